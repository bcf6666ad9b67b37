// Device and DType: where a tensor's storage lives and what its elements are.
#pragma once
#include <string>

namespace tg {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;  // CUDA ordinal; 0 for the CPU

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;  // "cpu" or "cuda:0"
};

// Parses "cpu", "cuda", "cuda:1"; throws tg::Error on anything else.
Device parse_device(const std::string& text);

// Element types. Only Float32 is implemented today; the half types are reserved for the CUDA path.
enum class DType { Float32, BFloat16, Float16 };

int dtype_size(DType dtype);          // bytes per element
const char* dtype_name(DType dtype);  // "float32", ...

// Which backends this build has and which devices are present right now.
bool cuda_built();            // compiled with TRUSTGRAD_CUDA
int cuda_device_count();      // 0 when not built or no device/driver
std::string backends_summary();  // e.g. "backends: cpu (OpenMP, 2 threads), cuda (not built)"

}  // namespace tg
