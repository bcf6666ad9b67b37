// Correctly rounded sqrt over a block of floats, vectorised. A plain std::sqrt loop does not
// vectorise under GCC's default -fmath-errno (the errno branch), and Eigen's fast-math packet
// sqrt (rsqrt + one Newton step) is not correctly rounded; this is IEEE sqrt on every path.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__AVX__) || defined(__SSE2__)
#include <immintrin.h>
#endif

namespace tg::cpu {

inline void sqrt_block(float* out, const float* in, int64_t n) {
  int64_t i = 0;
#if defined(__AVX__)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_sqrt_ps(_mm256_loadu_ps(in + i)));
#elif defined(__SSE2__)
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(out + i, _mm_sqrt_ps(_mm_loadu_ps(in + i)));
#endif
  for (; i < n; ++i) out[i] = std::sqrt(in[i]);
}

}  // namespace tg::cpu
