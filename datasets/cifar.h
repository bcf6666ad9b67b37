// CIFAR-10 and CIFAR-100 in the "binary version" format, read from the extracted directory
// (cifar-10-batches-bin/, cifar-100-binary/) or straight from the original .tar.gz.
// Record layout: label byte(s), then 3072 pixel bytes = R plane, G plane, B plane (32x32 each,
// rows top to bottom). CIFAR-10: 1 label byte; CIFAR-100: coarse byte, then fine byte.
#pragma once
#include <string>

#include "datasets/dataset.h"
#include "datasets/file_io.h"

namespace tg::data {

enum class Split { Train, Test };
enum class Cifar100Label { Fine, Coarse };

constexpr int64_t kCifarChannels = 3, kCifarSide = 32;
constexpr int64_t kCifarPixels = kCifarChannels * kCifarSide * kCifarSide;  // 3072

// `path`: a directory holding the .bin files (e.g. data/cifar-10-batches-bin) or the archive
// (e.g. data/cifar-10-binary.tar.gz). Throws tg::IOError on any missing or malformed file.
Dataset load_cifar10(const std::string& path, Split split);
DatasetSplits load_cifar10(const std::string& path);  // both splits; reads an archive once
Dataset load_cifar100(const std::string& path, Split split, Cifar100Label label = Cifar100Label::Fine);
DatasetSplits load_cifar100(const std::string& path, Cifar100Label label = Cifar100Label::Fine);

// How one binary file's records look: `label_bytes` leading bytes, each byte b checked against
// label_limits[b] (CIFAR-100: coarse < 20, fine < 100); the label kept is byte `label_index`.
struct CifarRecordFormat {
  int label_bytes = 1;
  int label_index = 0;
  int label_limits[2] = {10, 0};
};

// Appends the records in `bytes` (the content of file `what`) to `out` (images + labels).
void append_cifar_records(const Bytes& bytes, const std::string& what, const CifarRecordFormat& fmt, Dataset& out);

// One class name per non-empty line; throws unless there are exactly `expected` of them.
std::vector<std::string> parse_class_names(const Bytes& text, const std::string& what, int expected);

}  // namespace tg::data
