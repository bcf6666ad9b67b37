// IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed. Layout: magic 00 00 08 <ndim>
// (08 = unsigned byte data), then ndim big-endian u32 sizes, then prod(sizes) bytes row-major.
#pragma once
#include <string>
#include <vector>

#include "datasets/cifar.h"  // Split
#include "datasets/dataset.h"
#include "datasets/file_io.h"

namespace tg::data {

struct IdxArray {
  std::vector<int64_t> dims;  // e.g. (N, 28, 28) or (N)
  Bytes data;                 // prod(dims) bytes, row-major
};

// Parses the bytes of IDX file `what`; throws tg::IOError on a wrong magic, a dimension count
// other than expected_ndim, or a size that disagrees with the header (truncated or trailing data).
IdxArray parse_idx(const Bytes& bytes, const std::string& what, int expected_ndim);
IdxArray read_idx(const std::string& path, int expected_ndim);  // raw or .gz, decided by content

// Images (N, H, W) + labels (N), checked to agree in N and labels < class_names.size().
// idx_dataset does it for arrays already parsed; the paths only name the files in messages.
// Image sides must be in [1, kMaxIdxImageSide].
constexpr int64_t kMaxIdxImageSide = 65535;
Dataset idx_dataset(IdxArray images, IdxArray labels, const std::vector<std::string>& class_names, const std::string& name,
                    const std::string& images_path, const std::string& labels_path);
Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         const std::vector<std::string>& class_names, const std::string& name);

// `dir` holds {train,t10k}-{images-idx3,labels-idx1}-ubyte, each optionally with .gz.
Dataset load_mnist(const std::string& dir, Split split);
DatasetSplits load_mnist(const std::string& dir);
Dataset load_fashion_mnist(const std::string& dir, Split split);
DatasetSplits load_fashion_mnist(const std::string& dir);

// `dir`/`base` or `dir`/`base`.gz, whichever exists; throws naming both when neither does.
std::string find_idx_file(const std::string& dir, const std::string& base);

std::vector<std::string> mnist_class_names();
std::vector<std::string> fashion_mnist_class_names();

}  // namespace tg::data
