// The conv nets' max pool (2x2 window, stride 2, no padding; see pool.h), one copy per ISA level:
// its one loop vectorises 4 (baseline SSE2), 8 or 16 lanes wide, and the baseline copy measured
// ~8x slower than the AVX-512 one (64x32x32x32, one thread: 4.5 vs 0.53 ms), ~7% of a small-CNN step.
#include "engine/cpu/kernels/isa_kernels.h"

#include <cstdint>

namespace tg::cpu::TG_ISA_NS {
namespace {

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

}  // namespace

// The conv nets' pool: 2x2 window, stride 2, no padding. Same rule as max_pool2d_forward's general
// loop (pool.cpp: window scanned in row-major order; strict '>' keeps the first maximum; a NaN takes over), with
// the window unrolled and written with selects instead of branches, so each row vectorises.
// indices may be nullptr (values only).
void max_pool2x2_forward(float* out, int32_t* indices, const float* in, const PoolShape& s) {
  const int64_t P = s.P(), Q = s.Q(), W = s.W, HW = s.H * s.W, PQ = P * Q, planes = s.N * s.C;
  const int32_t w = static_cast<int32_t>(W);
#pragma omp parallel for schedule(static) if (planes * HW >= 16384)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* x = in + pl * HW;  // (H, W)
    float* y = out + pl * PQ;       // (P, Q)
    int32_t* idx = indices ? indices + pl * PQ : nullptr;
    for (int64_t p = 0; p < P; ++p) {
      const float* r0 = x + 2 * p * W;  // the window's two input rows
      const float* r1 = r0 + W;
      const int32_t row0 = static_cast<int32_t>(2 * p * W);
      float* yp = y + p * Q;
      int32_t* ip = idx ? idx + p * Q : nullptr;
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
    }
  }
}

}  // namespace tg::cpu::TG_ISA_NS
