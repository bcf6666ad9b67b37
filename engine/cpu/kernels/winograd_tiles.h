// Winograd F(4x4, 3x3) on the CPU, the tile side shared by its three files (one copy per ISA level,
// included only by engine/cpu/kernels/winograd*.cpp): the tile geometry, the 1-D transforms on 16
// lanes, and the image-side transforms
//   winograd_input.cpp   V = B^T d B of the input tiles (forward, weight grad) and its adjoint, din += B dV B^T
//   winograd_output.cpp  out = A^T M A (+ bias, ReLU, 2x2 max pool) and E = A dY A^T of the dout tiles
// that winograd.cpp (chunks of tiles, the 36 products, threads) calls per chunk. A chunk's tiles are
// handled 16 at a time, lane l = tile t0 + l ("a group"); the transformed planes V, M, E are
// (36, channels, T) with T tiles per chunk, plane_floats() apart.
#pragma once

#include "engine/cpu/kernels/isa_kernels.h"
#include "engine/cpu/kernels/simd_ops.h"

#if TG_ISA_LEVEL >= 2
#define TG_WINOGRAD_AVX512 1  // 16 tiles per zmm register, moved by pairs of 8x8 transposes, masked edges
#elif TG_ISA_LEVEL >= 1
#define TG_WINOGRAD_AVX2 1  // tiles moved between images and lanes with 8x8 register transposes
#endif

namespace tg::cpu::TG_ISA_NS::winograd {

constexpr int64_t kM = 4;        // outputs per tile side
constexpr int64_t kA = 6;        // inputs per tile side: m + 3 - 1
constexpr int64_t kXi = 36;      // transformed points per tile: kA * kA
constexpr int64_t kL = 16;       // tiles transformed side by side

// Floats from one transformed point's plane of V, M, E (rows x T) or U, dU (K x C) to the next:
// rows * cols, plus one cache line where that is a whole, even number of lines. The transforms touch
// the 36 planes at once (one value or one column of a tile per plane); planes a power-of-two multiple
// of 4 KiB apart all fall into the same two L1 sets and evict each other, an odd number of lines
// apart they spread over all sets.
inline int64_t plane_floats(int64_t rows, int64_t cols) {
  constexpr int64_t kLine = 16;  // floats per 64-byte line
  const int64_t n = rows * cols;
  if (n % kLine != 0) return n;
  return (n / kLine) % 2 == 0 ? n + kLine : n;
}

// ---- the four 1-D transforms, on kL lanes: x_k = x[k * xs + l], result_i -> y[i * ys + l] ----

// B^T (6x6) x:  B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
inline void apply_bt(const float* x, int64_t xs, float* y, int64_t ys) {
#pragma omp simd
  for (int64_t l = 0; l < kL; ++l) {
    const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l], x4 = x[4 * xs + l],
                x5 = x[5 * xs + l];
    y[l] = 4.f * x0 - 5.f * x2 + x4;
    y[ys + l] = -4.f * (x1 + x2) + x3 + x4;
    y[2 * ys + l] = 4.f * (x1 - x2) - x3 + x4;
    y[3 * ys + l] = 2.f * (x3 - x1) - x2 + x4;
    y[4 * ys + l] = 2.f * (x1 - x3) - x2 + x4;
    y[5 * ys + l] = 4.f * x1 - 5.f * x3 + x5;
  }
}

// B (6x6) x, the transpose of the above (adjoint of the input transform).
inline void apply_b(const float* x, int64_t xs, float* y, int64_t ys) {
#pragma omp simd
  for (int64_t l = 0; l < kL; ++l) {
    const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l], x4 = x[4 * xs + l],
                x5 = x[5 * xs + l];
    y[l] = 4.f * x0;
    y[ys + l] = 4.f * (x2 - x1 + x5) + 2.f * (x4 - x3);
    y[2 * ys + l] = -5.f * x0 - 4.f * (x1 + x2) - x3 - x4;
    y[3 * ys + l] = x1 - x2 + 2.f * (x3 - x4) - 5.f * x5;
    y[4 * ys + l] = x0 + x1 + x2 + x3 + x4;
    y[5 * ys + l] = x5;
  }
}

// A^T (4x6) x:  A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
inline void apply_at(const float* x, int64_t xs, float* y, int64_t ys) {
#pragma omp simd
  for (int64_t l = 0; l < kL; ++l) {
    const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l], x4 = x[4 * xs + l],
                x5 = x[5 * xs + l];
    const float p12 = x1 + x2, m12 = x1 - x2, p34 = x3 + x4, m34 = x3 - x4;
    y[l] = x0 + p12 + p34;
    y[ys + l] = m12 + 2.f * m34;
    y[2 * ys + l] = p12 + 4.f * p34;
    y[3 * ys + l] = m12 + 8.f * m34 + x5;
  }
}

// A (6x4) x, the transpose of the above (adjoint of the output transform).
inline void apply_a(const float* x, int64_t xs, float* y, int64_t ys) {
#pragma omp simd
  for (int64_t l = 0; l < kL; ++l) {
    const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l];
    y[l] = x0;
    y[ys + l] = x0 + x1 + x2 + x3;
    y[2 * ys + l] = x0 - x1 + x2 - x3;
    y[3 * ys + l] = x0 + 2.f * x1 + 4.f * x2 + 8.f * x3;
    y[4 * ys + l] = x0 - 2.f * x1 + 4.f * x2 - 8.f * x3;
    y[5 * ys + l] = x3;
  }
}

// ---- tiles ----

struct Grid {
  int64_t TH, TW, per_image;  // tile rows, tile columns, tiles per image
};

inline Grid grid(const ConvShape& s) {
  const int64_t TH = (s.P() + kM - 1) / kM, TW = (s.Q() + kM - 1) / kM;
  return {TH, TW, TH * TW};
}

// Where the kL lanes of a group read and write: image, top-left output row/column; n < 0 = no tile.
struct Lanes {
  int64_t n[kL], p0[kL], q0[kL];
};

#if TG_ISA_LEVEL >= 1
// y = B^T x and y = A^T x on the lanes of registers V (8 or 16: apply_bt / apply_at, register for
// register).
template <class V>
inline void bt_registers(const V x[6], V y[6]) {
  const V two = splat<V>(2.f), four = splat<V>(4.f), five = splat<V>(5.f);
  y[0] = add(fnmadd(five, x[2], mul(four, x[0])), x[4]);
  y[1] = add(fnmadd(four, add(x[1], x[2]), x[3]), x[4]);
  y[2] = fmadd(four, sub(x[1], x[2]), sub(x[4], x[3]));
  y[3] = fmadd(two, sub(x[3], x[1]), sub(x[4], x[2]));
  y[4] = fmadd(two, sub(x[1], x[3]), sub(x[4], x[2]));
  y[5] = add(fnmadd(five, x[3], mul(four, x[1])), x[5]);
}

template <class V>
inline void at_registers(const V x[6], V y[4]) {
  const V p12 = add(x[1], x[2]), m12 = sub(x[1], x[2]);
  const V p34 = add(x[3], x[4]), m34 = sub(x[3], x[4]);
  y[0] = add(add(x[0], p12), p34);
  y[1] = fmadd(splat<V>(2.f), m34, m12);
  y[2] = fmadd(splat<V>(4.f), p34, p12);
  y[3] = add(fmadd(splat<V>(8.f), m34, m12), x[5]);
}

// Output row i of the lanes' tiles from u's row i (6 registers of kL floats apart): y[j] = output
// column j + bias, ReLU'd when `relu`.
template <class V>
inline void output_row(const float* ui, V bias, bool relu, V y[kM]) {
  V x[kA];
  for (int64_t j = 0; j < kA; ++j) x[j] = load_aligned<V>(ui + j * kL);
  at_registers(x, y);
  for (int64_t j = 0; j < kM; ++j) {
    y[j] = add(y[j], bias);
    if (relu) y[j] = relu_lanes(y[j]);
  }
}
#endif

// ---- the image-side transforms (winograd_input.cpp, winograd_output.cpp) ----
// Each takes the chunk's T (a multiple of kL), `lanes` = the tiles of each group (lanes past the
// chunk's last tile have n < 0), and a channel range, so the backward's team can split channels.

// V[xi][c][j] = (B^T d B)[xi] of tile j's 6x6 input block d, channels [c0, c1).
void input_transform(float* V, int64_t T, const float* in, const ConvShape& s, const Lanes* lanes, int64_t c0,
                     int64_t c1);

// din += B dV[c] B^T of each tile of the first `groups` groups, channels [c0, c1), inside the image;
// din need not be cleared first: called on the tiles of each image in order (all of them, chunk after
// chunk), the sums start from +0.0 where a tile is the first to touch din.
void input_transform_adjoint(float* din, const float* dV, int64_t T, const ConvShape& s, const Lanes* lanes,
                             int64_t groups, int64_t c0, int64_t c1);

// out = epi(bias[k] + (A^T M A)[i][j]) of each tile of the first `groups` groups, inside the (pooled) map.
void output_transform(float* out, const float* M, int64_t T, const float* b, ConvEpilogue epi, const ConvShape& s,
                      const Lanes* lanes, int64_t groups);

// E[xi][k][j] = (A dY A^T)[xi] of tile j's 4x4 dout block dY, channels [k0, k1).
void dout_transform(float* E, int64_t T, const float* dout, const ConvShape& s, const Lanes* lanes, int64_t k0,
                    int64_t k1);

}  // namespace tg::cpu::TG_ISA_NS::winograd
