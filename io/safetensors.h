// Checkpoint I/O (io/: beneath nn/ and optim/, uses only engine/): safetensors, the published format
// exactly (8-byte little-endian header length, JSON header with dtype/shape/data_offsets and optional
// __metadata__, then row-major little-endian data with no holes). Saves are atomic: temporary file,
// fsync, rename.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/named_tensors.h"
#include "engine/tensor.h"

namespace tg::io {

using Metadata = std::map<std::string, std::string>;

// Writes float32 tensors (copied to the host if needed). Throws tg::IOError naming the path.
void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});

struct SafetensorsFile {
  NamedTensors tensors;  // in file order of data offsets
  Metadata metadata;
  std::string path;   // where it was loaded from, for error messages
  const Tensor* find(const std::string& name) const;  // nullptr when absent
  const Tensor& at(const std::string& name) const;    // throws naming the missing tensor and the file
};

// Reads and validates the whole file; every malformation is a tg::IOError naming the path.
// F32 is loaded as is; F64/F16/BF16/I64/I32/U8/... are converted to float32 when exactly representable
// in meaning (integers, halves) so PyTorch-written files load.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace tg::io
