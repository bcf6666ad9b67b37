// IDX parsing and the MNIST / Fashion-MNIST loaders (see idx.h).
#include "datasets/idx.h"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "engine/error.h"

namespace tg::data {

namespace fs = std::filesystem;

namespace {

std::string hex4(const uint8_t* p) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%02x %02x %02x %02x", p[0], p[1], p[2], p[3]);
  return buf;
}

uint32_t read_be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

Dataset load_split(const std::string& dir, Split split, const std::vector<std::string>& names, const std::string& dataset) {
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  return load_idx_dataset(find_idx_file(dir, prefix + "-images-idx3-ubyte"), find_idx_file(dir, prefix + "-labels-idx1-ubyte"),
                          names, dataset + (split == Split::Train ? "/train" : "/test"));
}

}  // namespace

IdxArray parse_idx(const Bytes& bytes, const std::string& what, int expected_ndim) {
  const std::string want_magic = "00 00 08 0" + std::to_string(expected_ndim);
  if (bytes.size() < 4)
    throw IOError("IDX file '" + what + "' is truncated: expected at least a 4-byte magic, found " + std::to_string(bytes.size()) + " bytes");
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08)
    throw IOError("IDX file '" + what + "' has a wrong magic: expected " + want_magic + " (unsigned byte data), found " + hex4(bytes.data()));
  const int ndim = bytes[3];
  if (ndim != expected_ndim)
    throw IOError("IDX file '" + what + "' has " + std::to_string(ndim) + " dimensions, expected " + std::to_string(expected_ndim) +
                  " (magic " + want_magic + ", found " + hex4(bytes.data()) + ")");
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  if (bytes.size() < header)
    throw IOError("IDX file '" + what + "' is truncated: expected a " + std::to_string(header) + "-byte header, found " +
                  std::to_string(bytes.size()) + " bytes");
  IdxArray arr;
  uint64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    const uint64_t dim = read_be32(bytes.data() + 4 + 4 * d);
    arr.dims.push_back(static_cast<int64_t>(dim));
    count = (dim != 0 && count > UINT64_MAX / dim) ? UINT64_MAX : count * dim;  // saturate on absurd headers
  }
  if (bytes.size() - header != count) {
    std::ostringstream msg;
    msg << "IDX file '" << what << "' is " << (bytes.size() - header < count ? "truncated" : "longer than its header says")
        << ": header dims (";
    for (int d = 0; d < ndim; ++d) msg << (d ? ", " : "") << arr.dims[d];
    msg << ") need " << count << " data bytes after the " << header << "-byte header, found " << bytes.size() - header;
    throw IOError(msg.str());
  }
  arr.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return arr;
}

IdxArray read_idx(const std::string& path, int expected_ndim) { return parse_idx(read_maybe_gzip(path), path, expected_ndim); }

Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         const std::vector<std::string>& class_names, const std::string& name) {
  return idx_dataset(read_idx(images_path, 3), read_idx(labels_path, 1), class_names, name, images_path, labels_path);
}

Dataset idx_dataset(IdxArray images, IdxArray labels, const std::vector<std::string>& class_names, const std::string& name,
                    const std::string& images_path, const std::string& labels_path) {
  // The arrays may come from a caller rather than parse_idx: check their ranks before indexing dims.
  if (images.dims.size() != 3)
    throw IOError("IDX image file '" + images_path + "' has " + std::to_string(images.dims.size()) +
                  " dimensions, expected 3 (N, H, W)");
  if (labels.dims.size() != 1)
    throw IOError("IDX label file '" + labels_path + "' has " + std::to_string(labels.dims.size()) +
                  " dimensions, expected 1 (N)");
  // Sides of 0 (any N then fits in 0 bytes) or past 65535 are no images; refused before their
  // product can overflow anything downstream.
  for (int d = 1; d <= 2; ++d)
    if (images.dims[d] < 1 || images.dims[d] > kMaxIdxImageSide)
      throw IOError("IDX image file '" + images_path + "' holds images of " + std::to_string(images.dims[1]) + " x " +
                    std::to_string(images.dims[2]) + " pixels: expected each side in [1, " + std::to_string(kMaxIdxImageSide) + "]");
  if (images.dims[0] != labels.dims[0])
    throw IOError("IDX image/label count mismatch: '" + images_path + "' holds " + std::to_string(images.dims[0]) +
                  " images but '" + labels_path + "' holds " + std::to_string(labels.dims[0]) + " labels");
  Dataset ds;
  ds.name = name;
  ds.channels = 1;
  ds.height = images.dims[1];
  ds.width = images.dims[2];
  ds.class_names = class_names;
  ds.images = std::move(images.data);
  ds.labels.resize(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    const int y = labels.data[i];
    if (y >= static_cast<int>(class_names.size()))
      throw IOError("IDX label file '" + labels_path + "': label " + std::to_string(y) + " of sample " + std::to_string(i) +
                    " is outside the expected range [0, " + std::to_string(class_names.size()) + ")");
    ds.labels[i] = y;
  }
  ds.validate();  // the byte counts: the arrays' data may disagree with their dims
  return ds;
}

std::string find_idx_file(const std::string& dir, const std::string& base) {
  std::error_code ec;
  const fs::path raw = fs::path(dir) / base;
  const fs::path gz = fs::path(dir) / (base + ".gz");
  if (fs::is_regular_file(raw, ec)) return raw.string();
  if (fs::is_regular_file(gz, ec)) return gz.string();
  throw IOError("IDX file not found: expected '" + raw.string() + "' or '" + gz.string() + "', found neither" +
                (fs::is_directory(dir, ec) ? "" : " (directory '" + dir + "' does not exist)"));
}

std::vector<std::string> mnist_class_names() { return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}; }
std::vector<std::string> fashion_mnist_class_names() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
}

Dataset load_mnist(const std::string& dir, Split split) { return load_split(dir, split, mnist_class_names(), "mnist"); }
DatasetSplits load_mnist(const std::string& dir) { return {load_mnist(dir, Split::Train), load_mnist(dir, Split::Test), dir}; }
Dataset load_fashion_mnist(const std::string& dir, Split split) {
  return load_split(dir, split, fashion_mnist_class_names(), "fashion-mnist");
}
DatasetSplits load_fashion_mnist(const std::string& dir) {
  return {load_fashion_mnist(dir, Split::Train), load_fashion_mnist(dir, Split::Test), dir};
}

}  // namespace tg::data
