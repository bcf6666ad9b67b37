// libFuzzer target: a safetensors model file through load_safetensors (header length, JSON header,
// dtypes, shapes, data_offsets tiling, conversions) and Module::load_state_dict, strict and not,
// into the tiny model (fuzz_support.h), as Module::load does with a real one.
#include "fuzz/fuzz_support.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg;
  const std::string path = fuzz::write_temp(data, size, ".safetensors");
  fuzz::expect_clean_refusal([&] {
    io::SafetensorsFile f = io::load_safetensors(path);
    fuzz::expect_clean_refusal([&] { fuzz::tiny_model()->load_state_dict(f.tensors, /*strict=*/false, path); });
    fuzz::tiny_model()->load_state_dict(f.tensors, /*strict=*/true, path);
  });
  return 0;
}
