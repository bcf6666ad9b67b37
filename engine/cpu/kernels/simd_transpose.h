// Register transposes (AVX2, AVX-512) shared by the packed GEMM and the Winograd transforms.
//
//   transpose8(r):  r[j][l] <- r[l][j] for the 8x8 matrix held in eight ymm registers
//                   (24 shuffles: unpack pairs, shuffle quads, swap 128-bit halves).
//   transpose8_pairs(r): the same on two 8x8 matrices at once, A in the low and B in the high 256
//                   bits of eight zmm registers: r[j] = (A[j][.] | B[j][.]) becomes
//                   (A[.][j] | B[.][j]) (AVX-512 only: the halves' swap is one vpermt2ps each).
// Only defined in the AVX2 and AVX-512 copies of the kernels (TG_ISA_LEVEL >= 1), in their own
// namespace (isa_kernels.h); callers keep a portable path beside it.
#pragma once

#include "engine/cpu/kernels/simd_ops.h"

#if TG_ISA_LEVEL >= 1
namespace tg::cpu::TG_ISA_NS {

// The steps both share, inside each 128-bit block (unpack pairs, shuffle quads): block b of s[m]
// (m < 4) holds column m + 4b of rows 0..3, block b of s[m + 4] the same column of rows 4..7.
template <class V>
inline void transpose8_in_blocks(const V r[8], V s[8]) {
  const V t0 = unpacklo(r[0], r[1]), t1 = unpackhi(r[0], r[1]);
  const V t2 = unpacklo(r[2], r[3]), t3 = unpackhi(r[2], r[3]);
  const V t4 = unpacklo(r[4], r[5]), t5 = unpackhi(r[4], r[5]);
  const V t6 = unpacklo(r[6], r[7]), t7 = unpackhi(r[6], r[7]);
  s[0] = shuffle<_MM_SHUFFLE(1, 0, 1, 0)>(t0, t2);
  s[1] = shuffle<_MM_SHUFFLE(3, 2, 3, 2)>(t0, t2);
  s[2] = shuffle<_MM_SHUFFLE(1, 0, 1, 0)>(t1, t3);
  s[3] = shuffle<_MM_SHUFFLE(3, 2, 3, 2)>(t1, t3);
  s[4] = shuffle<_MM_SHUFFLE(1, 0, 1, 0)>(t4, t6);
  s[5] = shuffle<_MM_SHUFFLE(3, 2, 3, 2)>(t4, t6);
  s[6] = shuffle<_MM_SHUFFLE(1, 0, 1, 0)>(t5, t7);
  s[7] = shuffle<_MM_SHUFFLE(3, 2, 3, 2)>(t5, t7);
}

inline void transpose8(__m256 r[8]) {
  __m256 s[8];
  transpose8_in_blocks(r, s);
  for (int m = 0; m < 4; ++m) {
    r[m] = _mm256_permute2f128_ps(s[m], s[m + 4], 0x20);      // the low blocks
    r[m + 4] = _mm256_permute2f128_ps(s[m], s[m + 4], 0x31);  // the high blocks
  }
}

#if TG_ISA_LEVEL >= 2
inline void transpose8_pairs(__m512 r[8]) {
  __m512 s[8];
  transpose8_in_blocks(r, s);
  // 128-bit blocks 0, 1 hold A, 2, 3 hold B: low = (a.0, b.0, a.2, b.2), high = (a.1, b.1, a.3, b.3).
  const __m512i low = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
  const __m512i high = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
  for (int m = 0; m < 4; ++m) {
    r[m] = _mm512_permutex2var_ps(s[m], low, s[m + 4]);
    r[m + 4] = _mm512_permutex2var_ps(s[m], high, s[m + 4]);
  }
}
#endif

}  // namespace tg::cpu::TG_ISA_NS
#endif
