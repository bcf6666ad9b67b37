// libFuzzer target: raw IDX files (MNIST / Fashion-MNIST) through parse_idx and idx_dataset.
#include "fuzz/idx_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tg::fuzz::check_idx_bytes(tg::data::Bytes(data, data + size));
  return 0;
}
