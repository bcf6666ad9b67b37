// Every-other-element row moves of stride-2 convolutions, 8 output floats per AVX2 step where the
// compiler targets AVX2, scalar loops otherwise (and for the ragged ends):
//   gather_stride2(dst, src, n, readable):   dst[i]  = src[2i]                 i < n   (im2col's row)
//   scatter_add_stride2(dst, src, n, room):  dst[2i] += src[i]                 i < n   (col2im's row)
//   spread_stride2(dst, src, width):         dst[w]  = w even ? src[w/2] : 0   w < width
// `readable` / `room` are how many floats from src / dst the caller allows to be touched: a vector
// step reads (and for the scatter rewrites, unchanged) the odd elements in between, 16 floats at a
// time, so it runs only while those stay inside that extent. The scatter-add keeps the odd lanes by
// a blend, not by adding 0 (which would turn -0 into +0), so every value equals the scalar loop's.
#pragma once

#include <cstdint>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace tg::cpu {

#if defined(__AVX2__)
// [s0 .. s15] -> [s0 s2 s4 .. s14]
inline __m256 even_lanes(const float* s) {
  const __m256 a = _mm256_loadu_ps(s), b = _mm256_loadu_ps(s + 8);
  const __m256 mixed = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));  // [s0 s2 s8 s10 | s4 s6 s12 s14]
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(mixed), _MM_SHUFFLE(3, 1, 2, 0)));
}
// [v0 .. v7] -> lo = [v0 0 v1 0 v2 0 v3 0], hi = [v4 0 v5 0 v6 0 v7 0]
inline void interleave_zeros(__m256 v, __m256& lo, __m256& hi) {
  const __m256 z = _mm256_setzero_ps();
  const __m256 a = _mm256_unpacklo_ps(v, z), b = _mm256_unpackhi_ps(v, z);  // [v0 0 v1 0 | v4 0 v5 0], [v2 0 v3 0 | v6 0 v7 0]
  lo = _mm256_permute2f128_ps(a, b, 0x20);
  hi = _mm256_permute2f128_ps(a, b, 0x31);
}
#endif

inline void gather_stride2(float* dst, const float* src, int64_t n, int64_t readable) {
  int64_t i = 0;
#if defined(__AVX2__)
  for (; i + 8 <= n && 2 * i + 16 <= readable; i += 8) _mm256_storeu_ps(dst + i, even_lanes(src + 2 * i));
#else
  (void)readable;
#endif
  for (; i < n; ++i) dst[i] = src[2 * i];
}

inline void scatter_add_stride2(float* dst, const float* src, int64_t n, int64_t room) {
  int64_t i = 0;
#if defined(__AVX2__)
  for (; i + 8 <= n && 2 * i + 16 <= room; i += 8) {
    __m256 lo, hi;
    interleave_zeros(_mm256_loadu_ps(src + i), lo, hi);
    const __m256 d0 = _mm256_loadu_ps(dst + 2 * i), d1 = _mm256_loadu_ps(dst + 2 * i + 8);
    _mm256_storeu_ps(dst + 2 * i, _mm256_blend_ps(d0, _mm256_add_ps(d0, lo), 0x55));  // even lanes summed
    _mm256_storeu_ps(dst + 2 * i + 8, _mm256_blend_ps(d1, _mm256_add_ps(d1, hi), 0x55));
  }
#else
  (void)room;
#endif
  for (; i < n; ++i) dst[2 * i] += src[i];
}

inline void spread_stride2(float* dst, const float* src, int64_t width) {
  int64_t w = 0;
#if defined(__AVX2__)
  for (; w + 16 <= width; w += 16) {
    __m256 lo, hi;
    interleave_zeros(_mm256_loadu_ps(src + w / 2), lo, hi);
    _mm256_storeu_ps(dst + w, lo);
    _mm256_storeu_ps(dst + w + 8, hi);
  }
#endif
  for (; w < width; ++w) dst[w] = w % 2 == 0 ? src[w / 2] : 0.f;
}

}  // namespace tg::cpu
