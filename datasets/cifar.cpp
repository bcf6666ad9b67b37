// CIFAR-10/100 binary loaders (see cifar.h): one record parser, two file lists.
#include "datasets/cifar.h"

#include <filesystem>
#include <map>
#include <sstream>

#include "datasets/archive.h"
#include "engine/error.h"

namespace tg::data {

namespace fs = std::filesystem;

namespace {

// Which files make up each split of each dataset.
struct CifarLayout {
  std::string dataset;  // "cifar10" / "cifar100"
  std::string meta;     // class names file
  std::vector<std::string> train_files, test_files;
  int num_classes;
  CifarRecordFormat format;
};

CifarLayout cifar10_layout() {
  return {"cifar10", "batches.meta.txt",
          {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
          {"test_batch.bin"}, 10, {1, 0, {10, 0}}};
}

CifarLayout cifar100_layout(Cifar100Label label) {
  const bool fine = label == Cifar100Label::Fine;
  return {"cifar100", fine ? "fine_label_names.txt" : "coarse_label_names.txt", {"train.bin"}, {"test.bin"},
          fine ? 100 : 20, {2, fine ? 1 : 0, {20, 100}}};
}

// Reads the named files from a directory or from a tar(.gz) archive: {name -> bytes}, plus a
// label for messages of each ("dir/name" or "archive:name").
std::map<std::string, Bytes> read_cifar_files(const std::string& path, const std::vector<std::string>& names,
                                              std::map<std::string, std::string>& where) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::map<std::string, Bytes> out;
    for (const auto& n : names) {
      const std::string file = (fs::path(path) / n).string();
      where[n] = file;
      out[n] = read_file(file);
    }
    return out;
  }
  if (fs::is_regular_file(path, ec) && looks_like_tar(path)) {
    for (const auto& n : names) where[n] = path + ":" + n;
    return read_archive_members(path, names);
  }
  if (!fs::exists(path, ec))
    throw IOError("CIFAR data not found at '" + path + "': expected a directory of .bin files or a .tar.gz archive, found nothing");
  throw IOError("CIFAR data at '" + path + "': expected a directory of .bin files or a .tar/.tar.gz/.tgz archive, found another kind of file");
}

Dataset make_split(const CifarLayout& layout, Split split, std::map<std::string, Bytes>& files,
                   const std::map<std::string, std::string>& where) {
  Dataset ds;
  ds.name = layout.dataset + (split == Split::Train ? "/train" : "/test");
  ds.channels = kCifarChannels;
  ds.height = kCifarSide;
  ds.width = kCifarSide;
  ds.class_names = parse_class_names(files.at(layout.meta), where.at(layout.meta), layout.num_classes);
  const auto& list = split == Split::Train ? layout.train_files : layout.test_files;
  size_t total = 0;
  for (const auto& f : list) total += files.at(f).size();
  ds.images.reserve(total);
  ds.labels.reserve(total / (kCifarPixels + layout.format.label_bytes));
  for (const auto& f : list) {
    append_cifar_records(files.at(f), where.at(f), layout.format, ds);
    files.erase(f);  // free the raw bytes as soon as they are parsed
  }
  return ds;
}

std::vector<std::string> files_for(const CifarLayout& layout, bool train, bool test) {
  std::vector<std::string> names{layout.meta};
  if (train) names.insert(names.end(), layout.train_files.begin(), layout.train_files.end());
  if (test) names.insert(names.end(), layout.test_files.begin(), layout.test_files.end());
  return names;
}

Dataset load_one(const CifarLayout& layout, const std::string& path, Split split) {
  std::map<std::string, std::string> where;
  auto files = read_cifar_files(path, files_for(layout, split == Split::Train, split == Split::Test), where);
  return make_split(layout, split, files, where);
}

DatasetSplits load_both(const CifarLayout& layout, const std::string& path) {
  std::map<std::string, std::string> where;
  auto files = read_cifar_files(path, files_for(layout, true, true), where);
  DatasetSplits s;
  s.train = make_split(layout, Split::Train, files, where);
  s.test = make_split(layout, Split::Test, files, where);
  return s;
}

}  // namespace

void append_cifar_records(const Bytes& bytes, const std::string& what, const CifarRecordFormat& fmt, Dataset& out) {
  // The format indexes each record's label bytes and label_limits[2]: check it before any read.
  TG_CHECK(fmt.label_bytes >= 1 && fmt.label_bytes <= 2,
           "append_cifar_records: label_bytes must be 1 or 2, got " << fmt.label_bytes);
  TG_CHECK(fmt.label_index >= 0 && fmt.label_index < fmt.label_bytes,
           "append_cifar_records: label_index must be in [0, label_bytes=" << fmt.label_bytes << "), got " << fmt.label_index);
  for (int b = 0; b < fmt.label_bytes; ++b)
    TG_CHECK(fmt.label_limits[b] >= 1 && fmt.label_limits[b] <= 256,
             "append_cifar_records: label_limits[" << b << "] must be in [1, 256], got " << fmt.label_limits[b]);
  const size_t record = static_cast<size_t>(fmt.label_bytes + kCifarPixels);
  if (bytes.empty()) throw IOError("CIFAR file '" + what + "' is empty: expected records of " + std::to_string(record) + " bytes");
  if (bytes.size() % record != 0) {
    std::ostringstream msg;
    msg << "CIFAR file '" << what << "' is truncated or not CIFAR: its size " << bytes.size()
        << " bytes is not a multiple of the record size " << record << " (" << fmt.label_bytes
        << " label byte(s) + 3072 pixel bytes); " << bytes.size() / record << " whole records + "
        << bytes.size() % record << " stray bytes";
    throw IOError(msg.str());
  }
  const size_t n = bytes.size() / record;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* rec = bytes.data() + i * record;
    for (int b = 0; b < fmt.label_bytes; ++b) {
      if (rec[b] < fmt.label_limits[b]) continue;
      std::ostringstream msg;
      msg << "CIFAR file '" << what << "': record " << i << " has " << (fmt.label_bytes == 2 ? (b == 0 ? "coarse " : "fine ") : "")
          << "label " << int(rec[b]) << ", expected a value in [0, " << fmt.label_limits[b] << ")";
      throw IOError(msg.str());
    }
    out.labels.push_back(rec[fmt.label_index]);
    // The record's pixel bytes are already (C, H, W) = R plane, G plane, B plane.
    out.images.insert(out.images.end(), rec + fmt.label_bytes, rec + record);
  }
}

std::vector<std::string> parse_class_names(const Bytes& text, const std::string& what, int expected) {
  std::vector<std::string> names;
  std::string line;
  auto flush = [&] {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) names.push_back(line);
    line.clear();
  };
  for (uint8_t ch : text) {
    if (ch == '\n') flush();
    else line.push_back(static_cast<char>(ch));
  }
  flush();
  if (static_cast<int>(names.size()) != expected)
    throw IOError("class names file '" + what + "': expected " + std::to_string(expected) + " non-empty lines, found " +
                  std::to_string(names.size()));
  return names;
}

Dataset load_cifar10(const std::string& path, Split split) { return load_one(cifar10_layout(), path, split); }
DatasetSplits load_cifar10(const std::string& path) { return load_both(cifar10_layout(), path); }
Dataset load_cifar100(const std::string& path, Split split, Cifar100Label label) {
  return load_one(cifar100_layout(label), path, split);
}
DatasetSplits load_cifar100(const std::string& path, Cifar100Label label) {
  return load_both(cifar100_layout(label), path);
}

}  // namespace tg::data
