// grow_aligned (scratch.h), built once for the baseline ISA.
#include "engine/cpu/scratch.h"

namespace tg::cpu {
namespace {

template <class T>
T* grow_aligned_impl(std::vector<T>& buf, size_t n) {
  constexpr size_t kLine = 64 / sizeof(T);
  if (buf.size() < n + kLine) buf.resize(n + kLine);
  const uintptr_t at = reinterpret_cast<uintptr_t>(buf.data());
  return buf.data() + ((64 - at % 64) % 64) / sizeof(T);
}

}  // namespace

float* grow_aligned(std::vector<float>& buf, size_t n) { return grow_aligned_impl(buf, n); }
double* grow_aligned(std::vector<double>& buf, size_t n) { return grow_aligned_impl(buf, n); }

}  // namespace tg::cpu
