// libFuzzer target: gzip-compressed IDX files, as read_idx reads them: maybe_gunzip (the gzip
// member parser: header, deflate, CRC, length, concatenated members, trailing bytes), then the IDX checks.
#include "fuzz/idx_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg;
  data::Bytes raw;
  fuzz::expect_clean_refusal([&] { raw = data::maybe_gunzip(data::Bytes(data, data + size), "fuzz.gz"); });
  if (!raw.empty()) fuzz::check_idx_bytes(raw);
  return 0;
}
