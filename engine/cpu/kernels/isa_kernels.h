// Included first by every per-ISA kernel source (engine/cpu/kernels/*.cpp, compiled once per level).
//
// The build defines TG_ISA_NS (generic, avx2 or avx512: the namespace this copy's functions live in,
// tg::cpu::TG_ISA_NS) and TG_ISA_LEVEL (0, 1, 2) with the matching -m flags; TG_SIMDE (test-only
// build) takes the intrinsics from SIMDe's portable emulation instead of the compiler's.
// Everything a kernel source defines goes in its level's namespace: an inline helper in tg::cpu
// compiled here with -mavx512f could be merged by the linker (COMDAT) with the generic copy and run
// AVX-512 code on a CPU without it (tests/isa/check_isa_symbols.sh checks the objects for that).
// So helpers live here or in the kernel sources, and these sources avoid out-of-line std templates
// (scratch buffers come from the baseline-built grow_aligned, scratch.h).
#pragma once

#if !defined(TG_ISA_NS) || !defined(TG_ISA_LEVEL)
#error "engine/cpu/kernels/*.cpp are compiled once per ISA level with TG_ISA_NS and TG_ISA_LEVEL defined (CMakeLists.txt)"
#endif

#if TG_ISA_LEVEL >= 1
#if defined(TG_SIMDE)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/fma.h>
#else
#include "engine/cpu/kernels/x86_intrinsics.h"
#endif
#endif

#include "engine/cpu/kernel_table.h"

namespace tg::cpu::TG_ISA_NS {

#if TG_ISA_LEVEL >= 2
// AVX-512 masked loads and stores of 16 floats (lanes with their mask bit off: 0 loaded, memory left
// alone). SIMDe 0.7.4 has no masked load/store: its build goes through a stack copy (test-only).
#if defined(TG_SIMDE)
using Mask16 = simde__mmask16;
inline __m512 masked_load(Mask16 m, const float* p) {
  alignas(64) float tmp[16];
  for (int i = 0; i < 16; ++i) tmp[i] = (m >> i) & 1 ? p[i] : 0.f;
  return _mm512_load_ps(tmp);
}
inline void masked_store(float* p, Mask16 m, __m512 v) {
  alignas(64) float tmp[16];
  _mm512_store_ps(tmp, v);
  for (int i = 0; i < 16; ++i)
    if ((m >> i) & 1) p[i] = tmp[i];
}
inline __m512i masked_load_i32(Mask16 m, const int32_t* p) {
  alignas(64) int32_t tmp[16];
  for (int i = 0; i < 16; ++i) tmp[i] = (m >> i) & 1 ? p[i] : 0;
  return _mm512_load_si512(tmp);
}
inline void masked_store_i32(int32_t* p, Mask16 m, __m512i v) {
  alignas(64) int32_t tmp[16];
  _mm512_store_si512(tmp, v);
  for (int i = 0; i < 16; ++i)
    if ((m >> i) & 1) p[i] = tmp[i];
}
inline __m128 masked_load4(Mask16 m, const float* p) { return _mm512_castps512_ps128(masked_load(m & 0xfu, p)); }
inline void masked_store4(float* p, Mask16 m, __m128 v) {
  masked_store(p, static_cast<Mask16>(m & 0xfu), _mm512_castps128_ps512(v));
}
#else
using Mask16 = __mmask16;
inline __m512 masked_load(Mask16 m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
inline void masked_store(float* p, Mask16 m, __m512 v) { _mm512_mask_storeu_ps(p, m, v); }
inline __m512i masked_load_i32(Mask16 m, const int32_t* p) { return _mm512_maskz_loadu_epi32(m, p); }
inline void masked_store_i32(int32_t* p, Mask16 m, __m512i v) { _mm512_mask_storeu_epi32(p, m, v); }
// The same on 4 floats (mask bits 0..3; AVX-512 VL).
inline __m128 masked_load4(Mask16 m, const float* p) { return _mm_maskz_loadu_ps(static_cast<__mmask8>(m & 0xfu), p); }
inline void masked_store4(float* p, Mask16 m, __m128 v) { _mm_mask_storeu_ps(p, static_cast<__mmask8>(m & 0xfu), v); }
#endif
// Lanes [0, n) on, n clamped to [0, 16].
inline Mask16 first_lanes(int64_t n) {
  return static_cast<Mask16>(n <= 0 ? 0u : n >= 16 ? 0xffffu : (1u << n) - 1u);
}
#endif

// keep_in_register(v): an empty asm that makes the compiler materialise v in a vector register
// (so GCC does not fold one load into each of several FMAs). SIMDe's emulated vectors are plain
// structs: nothing to do there.
template <class Vec>
inline void keep_in_register(Vec& v) {
#if defined(TG_SIMDE)
  (void)v;
#else
  asm("" : "+x"(v));
#endif
}

// This level's copies of the entry points (same signatures as the public declarations).
decltype(cpu::sgemm) sgemm;
decltype(cpu::sgemm_packed_a_floats) sgemm_packed_a_floats;
decltype(cpu::sgemm_pack_a) sgemm_pack_a;
decltype(cpu::sgemm_packed) sgemm_packed;
decltype(cpu::winograd_applies) winograd_applies;
decltype(cpu::winograd_forward) winograd_forward;
decltype(cpu::winograd_backward) winograd_backward;
decltype(cpu::direct_applies) direct_applies;
decltype(cpu::direct_forward) direct_forward;
decltype(cpu::direct_weight_grad) direct_weight_grad;
decltype(cpu::direct_input_grad) direct_input_grad;
decltype(cpu::batchnorm2d_forward_train) batchnorm2d_forward_train;
decltype(cpu::batchnorm2d_forward_eval) batchnorm2d_forward_eval;
decltype(cpu::batchnorm2d_backward) batchnorm2d_backward;
decltype(cpu::batchnorm2d_backward_eval) batchnorm2d_backward_eval;
decltype(cpu::batchnorm2d_relu_forward_train) batchnorm2d_relu_forward_train;
decltype(cpu::batchnorm2d_relu_forward_eval) batchnorm2d_relu_forward_eval;
decltype(cpu::batchnorm2d_relu_backward) batchnorm2d_relu_backward;
decltype(cpu::batchnorm2d_relu_maxpool2x2_forward_train) batchnorm2d_relu_maxpool2x2_forward_train;
decltype(cpu::batchnorm2d_relu_maxpool2x2_backward) batchnorm2d_relu_maxpool2x2_backward;
decltype(cpu::batchnorm2d_update_running) batchnorm2d_update_running;
decltype(cpu::max_pool2x2_forward) max_pool2x2_forward;
decltype(cpu::max_pool2x2_backward) max_pool2x2_backward;

const KernelTable& kernel_table();

}  // namespace tg::cpu::TG_ISA_NS
