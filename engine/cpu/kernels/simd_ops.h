// The float vector operations the Winograd transforms are written in, overloaded on the register
// width (__m256: 8 lanes, AVX2; __m512: 16 lanes, AVX-512), so one template per transform serves
// both levels with the very instructions, in the same order, that each would spell out:
//   add(a, b) = a + b   sub(a, b) = a - b   mul(a, b) = a b
//   fmadd(a, b, c) = a b + c   fnmadd(a, b, c) = c - a b   (one rounding)   splat<V>(x) = (x, ..., x)
//   load_aligned<V>(p)   relu_lanes(v) = v > 0 ? v : 0 (NaN and -0 give 0)
//   unpacklo / unpackhi / shuffle<imm>: the in-block (128-bit) shuffles of the register transposes
#pragma once

#include "engine/cpu/kernels/isa_kernels.h"

#if TG_ISA_LEVEL >= 1
namespace tg::cpu::TG_ISA_NS {

inline __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
inline __m256 sub(__m256 a, __m256 b) { return _mm256_sub_ps(a, b); }
inline __m256 mul(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
inline __m256 fmadd(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
inline __m256 fnmadd(__m256 a, __m256 b, __m256 c) { return _mm256_fnmadd_ps(a, b, c); }

inline __m256 relu_lanes(__m256 v) { return _mm256_and_ps(v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ)); }
inline __m256 unpacklo(__m256 a, __m256 b) { return _mm256_unpacklo_ps(a, b); }
inline __m256 unpackhi(__m256 a, __m256 b) { return _mm256_unpackhi_ps(a, b); }
template <int imm>
inline __m256 shuffle(__m256 a, __m256 b) {
  return _mm256_shuffle_ps(a, b, imm);
}

template <class V>
V splat(float x);
template <>
inline __m256 splat<__m256>(float x) {
  return _mm256_set1_ps(x);
}
template <class V>
V load_aligned(const float* p);
template <>
inline __m256 load_aligned<__m256>(const float* p) {
  return _mm256_load_ps(p);
}

#if TG_ISA_LEVEL >= 2
inline __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
inline __m512 sub(__m512 a, __m512 b) { return _mm512_sub_ps(a, b); }
inline __m512 mul(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
inline __m512 fmadd(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
inline __m512 fnmadd(__m512 a, __m512 b, __m512 c) { return _mm512_fnmadd_ps(a, b, c); }
inline __m512 relu_lanes(__m512 v) { return _mm512_max_ps(v, _mm512_setzero_ps()); }  // max(NaN, 0) = 0
inline __m512 unpacklo(__m512 a, __m512 b) { return _mm512_unpacklo_ps(a, b); }
inline __m512 unpackhi(__m512 a, __m512 b) { return _mm512_unpackhi_ps(a, b); }
template <int imm>
inline __m512 shuffle(__m512 a, __m512 b) {
  return _mm512_shuffle_ps(a, b, imm);
}
template <>
inline __m512 splat<__m512>(float x) {
  return _mm512_set1_ps(x);
}
template <>
inline __m512 load_aligned<__m512>(const float* p) {
  return _mm512_load_ps(p);
}
#endif

}  // namespace tg::cpu::TG_ISA_NS
#endif
