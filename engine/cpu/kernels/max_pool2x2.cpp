// The conv nets' max pool (2x2 window, stride 2, no padding; see pool.h), one copy per ISA level:
// its one loop vectorises 4 (baseline SSE2), 8 or 16 lanes wide, and the baseline copy measured
// ~8x slower than the AVX-512 one (64x32x32x32, one thread: 4.5 vs 0.53 ms), ~7% of a small-CNN step.
// At AVX-512 a row is worked 16 outputs at a time with masked loads and stores (pool_row16): the
// auto-vectorised loop ran rows shorter than 16 outputs (28 -> 14, 14 -> 7 of small28) scalar.
#include "engine/cpu/kernels/isa_kernels.h"

#include <cstdint>

#include "engine/cpu/kernels/max_pool2x2_plane.h"

namespace tg::cpu::TG_ISA_NS {
namespace {

#if TG_ISA_LEVEL < 2  // the AVX-512 copy uses mask registers instead (pool_row16, unpool_row16)
// t ? x : y with bit masks: no branch even in the scalar remainder of a vectorised loop (with
// ternaries the compiler branched there, and on random data a third of those branches mispredict).
// (__builtin_bit_cast, not std::bit_cast: no std template instantiated in a per-ISA source.)
inline float select(bool t, float x, float y) {
  const uint32_t m = 0u - static_cast<uint32_t>(t);
  return __builtin_bit_cast(float, (__builtin_bit_cast(uint32_t, x) & m) | (__builtin_bit_cast(uint32_t, y) & ~m));
}
inline int32_t select(bool t, int32_t x, int32_t y) {
  const int32_t m = -static_cast<int32_t>(t);
  return (x & m) | (y & ~m);
}
#endif

#if TG_ISA_LEVEL >= 2
// One output row of the 2x2 pool, 16 outputs per step: r0, r1 = the window's two input rows, Q
// outputs, row0 = offset of r0 in its plane (for the argmax), ip may be nullptr. The same rule as the
// scalar loop below, lane by lane: a later window element takes over when greater (ordered >) or NaN.
void pool_row16(float* yp, int32_t* ip, const float* r0, const float* r1, int64_t Q, int32_t row0, int32_t w) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t q = 0; q < Q; q += 16) {
    const int64_t n = Q - q < 16 ? Q - q : 16;  // outputs in this step: 2n input floats per row
    const Mask16 out_mask = first_lanes(n);
    const Mask16 lo_mask = first_lanes(2 * n), hi_mask = first_lanes(2 * n - 16);  // the 2n floats of a row
    const float* a = r0 + 2 * q;
    const float* b = r1 + 2 * q;
    const __m512 a_lo = masked_load(lo_mask, a), a_hi = masked_load(hi_mask, a + 16);
    const __m512 b_lo = masked_load(lo_mask, b), b_hi = masked_load(hi_mask, b + 16);
    __m512 best = _mm512_permutex2var_ps(a_lo, even, a_hi);  // r0[2q'], the window's top-left
    const __m512 c1 = _mm512_permutex2var_ps(a_lo, odd, a_hi);
    const __m512 c2 = _mm512_permutex2var_ps(b_lo, even, b_hi);
    const __m512 c3 = _mm512_permutex2var_ps(b_lo, odd, b_hi);
    __m512i off = _mm512_setzero_si512();
    // t = c > best or c is NaN; best = t ? c : best; off = t ? c's offset in the window : off
    auto take_over = [&best, &off](__m512 c, int32_t offset) {
      const Mask16 t = _mm512_cmp_ps_mask(c, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(c, c, _CMP_UNORD_Q);
      best = _mm512_mask_blend_ps(t, best, c);
      off = _mm512_mask_blend_epi32(t, off, _mm512_set1_epi32(offset));
    };
    take_over(c1, 1);
    take_over(c2, w);
    take_over(c3, w + 1);
    masked_store(yp + q, out_mask, best);
    if (ip) {  // index = row0 + 2 (q + lane) + off
      const __m512i col = _mm512_slli_epi32(_mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(q)), lane), 1);
      const __m512i index = _mm512_add_epi32(_mm512_add_epi32(_mm512_set1_epi32(row0), col), off);
      masked_store_i32(ip + q, out_mask, index);
    }
  }
}

// The backward of one output row: din's two input rows t0, t1 (2Q floats written each) from the
// row's dout dp and argmax ip. Lane q: off = ip[q] - (row0 + 2q) is 0, 1, W or W + 1, the window
// element that won; that element gets dp[q] + 0 (so -0 becomes +0, as the general kernel's
// 0 + dout), the other three 0. Even and odd columns are interleaved back by two permutes.
void unpool_row16(float* t0, float* t1, const float* dp, const int32_t* ip, int64_t Q, int32_t row0, int32_t w) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t q = 0; q < Q; q += 16) {
    const int64_t n = Q - q < 16 ? Q - q : 16;
    const Mask16 in_mask = first_lanes(n), lo_mask = first_lanes(2 * n), hi_mask = first_lanes(2 * n - 16);
    const __m512 g = _mm512_add_ps(masked_load(in_mask, dp + q), zero);
    const __m512i col = _mm512_slli_epi32(_mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(q)), lane), 1);
    const __m512i index = masked_load_i32(in_mask, ip + q);
    const __m512i off = _mm512_sub_epi32(index, _mm512_add_epi32(_mm512_set1_epi32(row0), col));
    const __m512 top_even = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(off, _mm512_setzero_si512()), g);
    const __m512 top_odd = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(off, _mm512_set1_epi32(1)), g);
    const __m512 bottom_even = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(off, _mm512_set1_epi32(w)), g);
    const __m512 bottom_odd = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(off, _mm512_set1_epi32(w + 1)), g);
    masked_store(t0 + 2 * q, lo_mask, _mm512_permutex2var_ps(top_even, lo, top_odd));
    masked_store(t0 + 2 * q + 16, hi_mask, _mm512_permutex2var_ps(top_even, hi, top_odd));
    masked_store(t1 + 2 * q, lo_mask, _mm512_permutex2var_ps(bottom_even, lo, bottom_odd));
    masked_store(t1 + 2 * q + 16, hi_mask, _mm512_permutex2var_ps(bottom_even, hi, bottom_odd));
  }
}
#endif

}  // namespace

// The conv nets' pool: 2x2 window, stride 2, no padding. Same rule as max_pool2d_forward's general
// loop (pool.cpp: window scanned in row-major order; strict '>' keeps the first maximum; a NaN takes over), with
// the window unrolled and written with selects instead of branches, so each row vectorises.
// indices may be nullptr (values only). One (H, W) plane -> (H/2, W/2) here (max_pool2x2_plane.h),
// the planes of the batch in max_pool2x2_forward below.
void max_pool2x2_plane(float* y, int32_t* idx, const float* x, int64_t H, int64_t W) {
  const int64_t P = H / 2, Q = W / 2;
  const int32_t w = static_cast<int32_t>(W);
  for (int64_t p = 0; p < P; ++p) {
    const float* r0 = x + 2 * p * W;  // the window's two input rows
    const float* r1 = r0 + W;
    const int32_t row0 = static_cast<int32_t>(2 * p * W);
    float* yp = y + p * Q;
    int32_t* ip = idx ? idx + p * Q : nullptr;
#if TG_ISA_LEVEL >= 2
    pool_row16(yp, ip, r0, r1, Q, row0, w);
#else
    // Each later element of the window takes over when greater or NaN; off = the winner's offset
    // from the window's top-left element.
#pragma omp simd
    for (int64_t q = 0; q < Q; ++q) {
      float best = r0[2 * q];
      int32_t off = 0;
      const float c1 = r0[2 * q + 1], c2 = r1[2 * q], c3 = r1[2 * q + 1];
      const bool t1 = (c1 > best) | (c1 != c1);  // | not ||: no branch
      best = select(t1, c1, best);
      off = select(t1, 1, off);
      const bool t2 = (c2 > best) | (c2 != c2);  // | not ||: no branch
      best = select(t2, c2, best);
      off = select(t2, w, off);
      const bool t3 = (c3 > best) | (c3 != c3);  // | not ||: no branch
      best = select(t3, c3, best);
      off = select(t3, w + 1, off);
      yp[q] = best;
      if (ip) ip[q] = row0 + 2 * static_cast<int32_t>(q) + off;
    }
#endif
  }
}

void max_pool2x2_forward(float* out, int32_t* indices, const float* in, const PoolShape& s) {
  const int64_t HW = s.H * s.W, PQ = s.P() * s.Q(), planes = s.N * s.C;
#pragma omp parallel for schedule(static) if (planes * HW >= 16384)
  for (int64_t pl = 0; pl < planes; ++pl)
    max_pool2x2_plane(out + pl * PQ, indices ? indices + pl * PQ : nullptr, in + pl * HW, s.H, s.W);
}

// din from dout and the forward's argmax (pool.h): every din element written once, the windows'
// non-winners and an odd H's last row / odd W's last column with 0. One plane here
// (max_pool2x2_plane.h), the batch's planes in max_pool2x2_backward below.
void max_pool2x2_backward_plane(float* dx, const float* dy, const int32_t* idx, int64_t H, int64_t W) {
  const int64_t P = H / 2, Q = W / 2;
  const int32_t w = static_cast<int32_t>(W);
  for (int64_t p = 0; p < P; ++p) {
    float* t0 = dx + 2 * p * W;  // the window's two input rows
    float* t1 = t0 + W;
    const int32_t row0 = static_cast<int32_t>(2 * p * W);
    const float* dp = dy + p * Q;
    const int32_t* ip = idx + p * Q;
#if TG_ISA_LEVEL >= 2
    unpool_row16(t0, t1, dp, ip, Q, row0, w);
#else
#pragma omp simd
    for (int64_t q = 0; q < Q; ++q) {
      const int32_t off = ip[q] - (row0 + 2 * static_cast<int32_t>(q));
      const float g = dp[q] + 0.f;  // -0 -> +0: the general kernel's 0 + dout
      t0[2 * q] = select(off == 0, g, 0.f);
      t0[2 * q + 1] = select(off == 1, g, 0.f);
      t1[2 * q] = select(off == w, g, 0.f);
      t1[2 * q + 1] = select(off == w + 1, g, 0.f);
    }
#endif
    for (int64_t c = 2 * Q; c < W; ++c) t0[c] = t1[c] = 0.f;  // an odd W's last column
  }
  for (int64_t r = 2 * P; r < H; ++r)  // an odd H's last row
    for (int64_t c = 0; c < W; ++c) dx[r * W + c] = 0.f;
}

void max_pool2x2_backward(float* din, const float* dout, const int32_t* indices, const PoolShape& s) {
  const int64_t HW = s.H * s.W, PQ = s.P() * s.Q(), planes = s.N * s.C;
#pragma omp parallel for schedule(static) if (planes * HW >= 16384)
  for (int64_t pl = 0; pl < planes; ++pl)
    max_pool2x2_backward_plane(din + pl * HW, dout + pl * PQ, indices + pl * PQ, s.H, s.W);
}

}  // namespace tg::cpu::TG_ISA_NS
