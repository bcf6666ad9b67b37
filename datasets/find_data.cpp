// Dataset discovery by name (see find_data.h).
#include "datasets/find_data.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "datasets/cifar.h"
#include "datasets/idx.h"
#include "engine/error.h"

namespace tg::data {

namespace fs = std::filesystem;

namespace {

const char* const kSystemFashionMnist = "/usr/share/datasets/fashion-mnist";  // Debian: dataset-fashion-mnist
const char* const kSystemMnist = "/usr/share/datasets/mnist";

// The file whose presence marks a candidate directory as holding the dataset.
std::string marker_file(const std::string& name) {
  if (name == "cifar10") return "data_batch_1.bin";
  if (name == "cifar100") return "train.bin";
  return "train-images-idx3-ubyte";
}

bool is_archive_candidate(const std::string& path) {
  return path.size() > 7 && path.compare(path.size() - 7, 7, ".tar.gz") == 0;
}

// Empty when the candidate looks usable, else why not.
std::string why_unusable(const std::string& name, const std::string& path) {
  std::error_code ec;
  if (is_archive_candidate(path)) return fs::is_regular_file(path, ec) ? "" : "no such file";
  if (!fs::is_directory(path, ec)) return "no such directory";
  const std::string marker = marker_file(name);
  const fs::path p = fs::path(path) / marker;
  if (fs::is_regular_file(p, ec)) return "";
  if (name != "cifar10" && name != "cifar100" && fs::is_regular_file(p.string() + ".gz", ec)) return "";
  return "directory has no " + marker + (name.rfind("cifar", 0) == 0 ? "" : "[.gz]");
}

DatasetSplits load_from(const std::string& name, const std::string& path) {
  if (name == "cifar10") return load_cifar10(path);
  if (name == "cifar100") return load_cifar100(path);
  if (name == "mnist") return load_mnist(path);
  return load_fashion_mnist(path);
}

}  // namespace

std::string canonical_dataset_name(const std::string& name) {
  std::string k;
  for (char ch : name)
    if (std::isalnum(static_cast<unsigned char>(ch))) k.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  if (k == "cifar10") return "cifar10";
  if (k == "cifar100") return "cifar100";
  if (k == "mnist") return "mnist";
  if (k == "fashionmnist" || k == "fmnist") return "fashion-mnist";
  throw Error("unknown dataset '" + name + "': expected one of cifar10, cifar100, mnist, fashion-mnist");
}

std::vector<std::string> dataset_candidates(const std::string& name_in, const std::string& data_dir) {
  const std::string name = canonical_dataset_name(name_in);
  const fs::path d(data_dir);
  std::vector<fs::path> c;
  if (name == "cifar10") c = {d / "cifar-10-batches-bin", d / "cifar-10-binary.tar.gz", d};
  if (name == "cifar100") c = {d / "cifar-100-binary", d / "cifar-100-binary.tar.gz", d};
  if (name == "mnist") c = {d / "mnist", d / "MNIST" / "raw", d, kSystemMnist};
  if (name == "fashion-mnist") c = {d / "fashion-mnist", d / "FashionMNIST" / "raw", d, kSystemFashionMnist};
  std::vector<std::string> out;
  for (const auto& p : c) out.push_back(p.string());
  return out;
}

DatasetSplits load_dataset(const std::string& name_in, const std::string& data_dir) {
  const std::string name = canonical_dataset_name(name_in);
  std::string tried;
  for (const auto& path : dataset_candidates(name, data_dir)) {
    const std::string why = why_unusable(name, path);
    if (!why.empty()) {
      tried += "\n  " + path + " (" + why + ")";
      continue;
    }
    try {
      DatasetSplits s = load_from(name, path);
      s.source = path;
      return s;
    } catch (const IOError& e) {
      throw IOError("found " + name + " at '" + path + "' but could not load it: " + e.what());
    }
  }
  throw IOError("dataset " + name + " not found; looked in:" + tried +
                "\nrun scripts/download_data.sh " + name + " (needs network), or pass the directory that holds it");
}

}  // namespace tg::data
