// Device names, dtype facts, and the "which backends do we have" summary.
#include "engine/device.h"

#include <charconv>

#include "engine/error.h"
#include "engine/parallel.h"
#ifdef TRUSTGRAD_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace tg {

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    const std::string idx = text.substr(5);
    TG_CHECK(!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos,
             "bad device '" << text << "': expected cpu, cuda or cuda:N");
    int index = 0;  // all digits: from_chars can only fail by overflowing int
    const bool fits = std::from_chars(idx.data(), idx.data() + idx.size(), index).ec == std::errc();
    TG_CHECK(fits, "bad device '" << text << "': device index " << idx << " is out of range");
    return Device::cuda(index);
  }
  throw Error("bad device '" + text + "': expected cpu, cuda or cuda:N");
}

int dtype_size(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::BFloat16: return 2;
    case DType::Float16: return 2;
  }
  return 4;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::BFloat16: return "bfloat16";
    case DType::Float16: return "float16";
  }
  return "?";
}

bool cuda_built() {
#ifdef TRUSTGRAD_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef TRUSTGRAD_WITH_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

std::string backends_summary() {
  std::string s = "backends: cpu (Eigen + OpenMP, " + std::to_string(get_num_threads()) + " threads)";
#ifdef TRUSTGRAD_WITH_CUDA
  const int n = cuda::device_count();
  if (n == 0) {
    s += ", cuda (built; no device present)";
  } else {
    s += ", cuda (" + std::to_string(n) + " device" + (n > 1 ? "s" : "") + ": " + cuda::device_name(0) + ")";
  }
#else
  s += ", cuda (not built)";
#endif
  return s;
}

}  // namespace tg
