// Winograd F(4x4, 3x3) convolution on the CPU (see winograd.h for the maths).
//
// The output is cut into 4x4 tiles, tile t = (image n, tile row ty, tile column tx), reading the
// 6x6 input block at (4 ty - pad_h, 4 tx - pad_w). Tiles are processed in chunks of T (a multiple
// of 16) whose transformed data stays near the L2 cache:
//   V (36, C, T)  transformed input tiles      E (36, K, T)  transformed dout tiles
//   M (36, K, T)  transformed output tiles     U (36, K, C)  transformed weights (once per call)
// (the 36 planes of each lie plane_floats() apart: rows x columns plus a cache line where needed).
// Transforms run on 16 tiles side by side (lane l = tile t0 + l), so each line of a transform is
// two SIMD instructions; the 36 products per chunk are our sgemm
// (the bf16 GEMM, gemm_bf16.h, for ConvPrecision::Bf16).
// Threads: the forward hands whole chunks to threads (their output tiles are disjoint). The
// backward either cuts the batch into up to 16 units of whole images, each with its own dU partial,
// that the threads take as they come (few channels), or runs the team on one chunk at a time, the
// transforms split by channel and the products by xi, with one shared dU (many channels, where
// per-unit dU copies would cost 36 K C floats each). Either way dU is summed in an order fixed by
// the shape, so dw is the same bits at any thread count.
#include "engine/cpu/kernels/isa_kernels.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/gemm_bf16.h"
#include "engine/cpu/kernels/simd_ops.h"
#include "engine/cpu/kernels/simd_transpose.h"
#include "engine/cpu/scratch.h"

#if TG_ISA_LEVEL >= 2
#define TG_WINOGRAD_AVX512 1  // 16 tiles per zmm register, moved by pairs of 8x8 transposes, masked edges
#elif TG_ISA_LEVEL >= 1
#define TG_WINOGRAD_AVX2 1  // tiles moved between images and lanes with 8x8 register transposes
#endif

namespace tg::cpu::TG_ISA_NS {
namespace {

constexpr int64_t kM = 4;        // outputs per tile side
constexpr int64_t kA = 6;        // inputs per tile side: m + 3 - 1
constexpr int64_t kXi = 36;      // transformed points per tile: kA * kA
constexpr int64_t kL = 16;       // tiles transformed side by side
#if TG_ISA_LEVEL >= 2
constexpr int64_t kChunkAlign = 32;  // tiles per chunk: a multiple of the AVX-512 sgemm's 32 columns
#else
constexpr int64_t kChunkAlign = kL;  // tiles per chunk: a multiple of the lanes (and of AVX2's 16 columns)
#endif
constexpr int64_t kChunkBudgetFloats = 192 * 1024;  // V + M (or V + E) of one chunk: 768 KiB ...
constexpr int64_t kMinChunkTiles = 64;  // ... but at least 64 tiles: with many channels, narrower chunks
                                        // re-pack U and re-write dU (36 K C floats) too often
constexpr int64_t kCachedPlanesFloats = 4 * 1024 * 1024;  // U (36 K C floats) up to 16 MiB: re-read from cache
constexpr int64_t kTeamMinKC = 128 * 128;  // K * C from which the backward shares chunks (winograd_backward)

// Per-thread buffers (grow_aligned, scratch.h): grown on demand and kept, 64-byte aligned.
thread_local std::vector<float> t_v, t_m, t_u, t_du;

// Floats from one transformed point's plane of V, M, E (rows x T) or U, dU (K x C) to the next:
// rows * cols, plus one cache line where that is a whole, even number of lines. The transforms touch
// the 36 planes at once (one value or one column of a tile per plane); planes a power-of-two multiple
// of 4 KiB apart all fall into the same two L1 sets and evict each other, an odd number of lines
// apart they spread over all sets.
int64_t plane_floats(int64_t rows, int64_t cols) {
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

// G (6x3) g: G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
inline void apply_g(const float* g, int64_t gs, float* y, int64_t ys) {
  const float g0 = g[0], g1 = g[gs], g2 = g[2 * gs];
  y[0] = g0 / 4.f;
  y[ys] = -(g0 + g1 + g2) / 6.f;
  y[2 * ys] = -(g0 - g1 + g2) / 6.f;
  y[3 * ys] = g0 / 24.f + g1 / 12.f + g2 / 6.f;
  y[4 * ys] = g0 / 24.f - g1 / 12.f + g2 / 6.f;
  y[5 * ys] = g2;
}

// G^T (3x6) x (adjoint of the weight transform).
inline void apply_gt(const float* x, int64_t xs, float* y, int64_t ys) {
  const float x0 = x[0], x1 = x[xs], x2 = x[2 * xs], x3 = x[3 * xs], x4 = x[4 * xs], x5 = x[5 * xs];
  y[0] = x0 / 4.f - (x1 + x2) / 6.f + (x3 + x4) / 24.f;
  y[ys] = (x2 - x1) / 6.f + (x3 - x4) / 12.f;
  y[2 * ys] = (x3 + x4 - x1 - x2) / 6.f + x5;
}

// ---- tiles ----

struct Grid {
  int64_t TH, TW, per_image;  // tile rows, tile columns, tiles per image
};

Grid grid(const ConvShape& s) {
  const int64_t TH = (s.P() + kM - 1) / kM, TW = (s.Q() + kM - 1) / kM;
  return {TH, TW, TH * TW};
}

// Where the kL lanes of a group read and write: image, top-left output row/column; n < 0 = no tile.
struct Lanes {
  int64_t n[kL], p0[kL], q0[kL];
};

void locate(Lanes& ln, const Grid& gr, int64_t t, int64_t t_end) {
  for (int64_t l = 0; l < kL; ++l, ++t) {
    if (t >= t_end) {
      ln.n[l] = -1;
      ln.p0[l] = ln.q0[l] = 0;
      continue;
    }
    const int64_t n = t / gr.per_image, r = t % gr.per_image;
    ln.n[l] = n;
    ln.p0[l] = (r / gr.TW) * kM;
    ln.q0[l] = (r % gr.TW) * kM;
  }
}

// The lanes of every group of kL tiles in the chunk [t0, t0 + T) (tiles from t1 on: no tile), worked
// out once per chunk by the caller and shared by its transforms, in a per-thread array kept between
// calls (valid until the thread's next call). The transforms walk channels outside and groups inside,
// so each channel plane of the image side is read or written front to back, the order the hardware
// prefetcher follows.
const Lanes* locate_groups(const Grid& gr, int64_t t0, int64_t t1, int64_t T) {
  thread_local std::vector<Lanes> t_lanes;
  const int64_t groups = T / kL;
  if (static_cast<int64_t>(t_lanes.size()) < groups) t_lanes.resize(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) locate(t_lanes[static_cast<size_t>(g)], gr, t0 + g * kL, t1);
  return t_lanes.data();
}

// Groups of the chunk [t0, t1) that hold a tile (those past it are all empty).
int64_t groups_with_tiles(int64_t t0, int64_t t1) { return (t1 - t0 + kL - 1) / kL; }

// The weight transforms work 16 (k, c) pairs at a time, one per SIMD lane: element e of lane l at
// [e * kWeightLanes + l], so apply_g / apply_gt (scalar code with strides) vectorise across the
// lanes, divisions included (one (k, c) at a time they were 44 scalar divisions each: 2.4% of a
// ResNet-18 step at batch 256). The arithmetic per element is unchanged.
constexpr int64_t kWeightLanes = 16;

// U (36, K, C): U[xi][k][c] = (G w[k,c] G^T)[xi].
void weight_transform(float* U, const float* w, const ConvShape& s) {
  const int64_t KC = s.K * s.C, US = plane_floats(s.K, s.C);
  const int64_t blocks = (KC + kWeightLanes - 1) / kWeightLanes;
#pragma omp parallel for schedule(static) if (KC > 4096 && !omp_in_parallel())
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t kc0 = blk * kWeightLanes, n = std::min(kWeightLanes, KC - kc0);
    alignas(64) float g[9 * kWeightLanes] = {}, t[kA * 3 * kWeightLanes], u[kXi * kWeightLanes];
    for (int64_t l = 0; l < n; ++l)  // g[e][l] = w[kc0 + l] (3x3, row-major) element e
      for (int64_t e = 0; e < 9; ++e) g[e * kWeightLanes + l] = w[(kc0 + l) * 9 + e];
#pragma omp simd
    for (int64_t l = 0; l < kWeightLanes; ++l) {
      constexpr int64_t L = kWeightLanes;
      for (int64_t j = 0; j < 3; ++j) apply_g(g + j * L + l, 3 * L, t + j * L + l, 3 * L);  // t (6x3) = G g
      for (int64_t i = 0; i < kA; ++i) apply_g(t + i * 3 * L + l, L, u + i * kA * L + l, L);  // u (6x6) = t G^T
    }
    // The 36 rows of 16 lanes out: a full block as fixed-size copies (one vector move each; a copy of
    // n floats became a `rep movsq` per row, 60% of this function's time in a ResNet-18 step).
    if (n == kWeightLanes) {
      for (int64_t xi = 0; xi < kXi; ++xi)
        std::memcpy(U + xi * US + kc0, u + xi * kWeightLanes, sizeof(float) * kWeightLanes);
    } else {
      for (int64_t xi = 0; xi < kXi; ++xi)
        for (int64_t l = 0; l < n; ++l) U[xi * US + kc0 + l] = u[xi * kWeightLanes + l];
    }
  }
}

// dw (K, C, 3, 3) = G^T dU[k,c] G, from dU (36, K, C).
void weight_transform_adjoint(float* dw, const float* dU, const ConvShape& s) {
  const int64_t KC = s.K * s.C, US = plane_floats(s.K, s.C);
  const int64_t blocks = (KC + kWeightLanes - 1) / kWeightLanes;
#pragma omp parallel for schedule(static) if (KC > 4096 && !omp_in_parallel())
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t kc0 = blk * kWeightLanes, n = std::min(kWeightLanes, KC - kc0);
    alignas(64) float x[kXi * kWeightLanes] = {}, t[3 * kA * kWeightLanes], o[9 * kWeightLanes];
    if (n == kWeightLanes) {  // fixed-size copies, as in weight_transform
      for (int64_t xi = 0; xi < kXi; ++xi)
        std::memcpy(x + xi * kWeightLanes, dU + xi * US + kc0, sizeof(float) * kWeightLanes);
    } else {
      for (int64_t xi = 0; xi < kXi; ++xi)
        for (int64_t l = 0; l < n; ++l) x[xi * kWeightLanes + l] = dU[xi * US + kc0 + l];
    }
#pragma omp simd
    for (int64_t l = 0; l < kWeightLanes; ++l) {
      constexpr int64_t L = kWeightLanes;
      for (int64_t j = 0; j < kA; ++j) apply_gt(x + j * L + l, kA * L, t + j * L + l, kA * L);  // t (3x6) = G^T x
      for (int64_t i = 0; i < 3; ++i) apply_gt(t + i * kA * L + l, L, o + i * 3 * L + l, L);   // (3x3) = t G
    }
    for (int64_t l = 0; l < n; ++l)
      for (int64_t e = 0; e < 9; ++e) dw[(kc0 + l) * 9 + e] = o[e * kWeightLanes + l];
  }
}

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

#ifdef TG_WINOGRAD_AVX2

// q[l] = (y0[l], y1[l], y2[l], y3[l]) for the 8 lanes l: four 8-lane registers to eight 4-float rows.
inline void transpose4x8(__m256 y0, __m256 y1, __m256 y2, __m256 y3, __m128 q[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(y0, y1), t1 = _mm256_unpackhi_ps(y0, y1);
  const __m256 t2 = _mm256_unpacklo_ps(y2, y3), t3 = _mm256_unpackhi_ps(y2, y3);
  const __m256 s[4] = {_mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)),   // lanes 0 and 4
                       _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),   // lanes 1 and 5
                       _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)),   // lanes 2 and 6
                       _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2))};  // lanes 3 and 7
  for (int l = 0; l < 4; ++l) {
    q[l] = _mm256_castps256_ps128(s[l]);
    q[l + 4] = _mm256_extractf128_ps(s[l], 1);
  }
}
#endif

// Where lane l's input tile rows lie, worked out once per group of kL tiles and shared by every
// channel: row i of lane l's tile is read from in[c * H * W + offset[i][l]], and its columns j < 6 that
// lie inside the image are valid; a row outside the image, or a lane without a tile, has none.
struct InputRows {
  int64_t offset[kA][kL];
#if defined(TG_WINOGRAD_AVX512)
  // The same 8-float windows as in the AVX2 layout below, lanes l and l + 8 in one zmm register (the
  // pair p = l < 8): float j of the low half is window_l[index[i][p][j]], of the high half
  // window_{l+8}[index[i][p][8 + j] - 8], kept where mask bit j (8 + j) is on. Planes under 8 floats:
  // the windows start at column 0 of the tiles, read with masked loads.
  __m512i index[kA][kL / 2];
  Mask16 mask[kA][kL / 2];
  bool small_plane;
#elif defined(TG_WINOGRAD_AVX2)
  // The 8 floats at offset are a window of the channel plane that holds the row's valid columns:
  // column j is window float index[i][l][j] (the window is moved inside the plane at its edges, so a
  // plain load never leaves it), kept where mask[i][l][j] is all ones. Planes under 8 floats: the
  // window starts at column 0 of the tile (index j), read with a masked load.
  __m256i index[kA][kL];
  __m256i mask[kA][kL];
  bool small_plane;
#else
  int64_t col_lo[kL], col_hi[kL];  // valid columns [col_lo, col_hi) ...
  bool row_valid[kA][kL];          // ... of the rows inside the image; offset = column 0 of the tile
#endif
};

void locate_input_rows(InputRows& rows, const Lanes& ln, const ConvShape& s) {
  const int64_t HW = s.H * s.W;
#if defined(TG_WINOGRAD_AVX512)
  rows.small_plane = HW < 8;
  alignas(64) int32_t index[kA][kL];  // lane l's window float of column j: index[i][l] + j
  Mask16 valid_columns[kA][kL];       // bits j of lane l's row i inside the image
#elif defined(TG_WINOGRAD_AVX2)
  rows.small_plane = HW < 8;
#endif
  for (int64_t l = 0; l < kL; ++l) {
    const bool tile = ln.n[l] >= 0;
    const int64_t h0 = ln.p0[l] - s.pad_h, w0 = ln.q0[l] - s.pad_w;
    const int64_t lo = std::clamp<int64_t>(-w0, 0, kA), hi = std::clamp<int64_t>(s.W - w0, 0, kA);
    for (int64_t i = 0; i < kA; ++i) {
      const int64_t h = std::clamp<int64_t>(h0 + i, 0, s.H - 1);
      const bool valid = tile && h0 + i >= 0 && h0 + i < s.H;
      const int64_t plane = tile ? ln.n[l] * s.C * HW : 0, start = h * s.W + w0;  // column 0 of the tile row
#if defined(TG_WINOGRAD_AVX512)
      const int64_t window = rows.small_plane ? start : std::clamp<int64_t>(start, 0, HW - 8);  // as below
      rows.offset[i][l] = plane + window;
      index[i][l] = static_cast<int32_t>(start - window);
      valid_columns[i][l] = valid ? static_cast<Mask16>(first_lanes(hi) & ~first_lanes(lo)) : Mask16{0};
#elif defined(TG_WINOGRAD_AVX2)
      // The valid columns are at most 6 consecutive floats of the plane, so the window clamped into
      // [0, HW - 8] still holds them; shift = where column 0 lies in the window.
      const int64_t window = rows.small_plane ? start : std::clamp<int64_t>(start, 0, HW - 8);
      const auto shift = static_cast<int32_t>(start - window);
      const __m256i column = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      const __m256i inside = _mm256_and_si256(_mm256_cmpgt_epi32(column, _mm256_set1_epi32(static_cast<int32_t>(lo) - 1)),
                                              _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(hi)), column));
      rows.offset[i][l] = plane + window;
      rows.index[i][l] = _mm256_add_epi32(column, _mm256_set1_epi32(shift));
      rows.mask[i][l] = valid ? inside : _mm256_setzero_si256();
#else
      rows.offset[i][l] = plane + start;
      rows.row_valid[i][l] = valid;
#endif
    }
#if !defined(TG_WINOGRAD_AVX2) && !defined(TG_WINOGRAD_AVX512)
    rows.col_lo[l] = lo;
    rows.col_hi[l] = hi;
#endif
  }
#if defined(TG_WINOGRAD_AVX512)
  const __m512i column = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t i = 0; i < kA; ++i)
    for (int64_t p = 0; p < kL / 2; ++p) {
      const __m512i shift = _mm512_mask_set1_epi32(_mm512_set1_epi32(index[i][p]), 0xff00, index[i][p + 8]);
      rows.index[i][p] = _mm512_add_epi32(column, shift);
      rows.mask[i][p] = static_cast<Mask16>(valid_columns[i][p] | valid_columns[i][p + 8] << 8);
    }
#endif
}

// t[(i*6 + j)*kL + l] = (d B)[i][j] for lane l's input tile row i, columns j (0 where not valid), from
// one channel's planes in_c: the tiles gathered and their rows transformed (the first half of B^T d B).
void gather_input_tiles_dB(float* t, const InputRows& rows, const float* in_c) {
#if defined(TG_WINOGRAD_AVX512)
  // Lanes l and l + 8's row i: their two 8-float windows side by side in one zmm, one permute that
  // puts column j at float j (8 + j) and zeroes what lies outside the image. One pair of 8x8
  // transposes turns the 16 lanes' rows into the row's 6 columns, transformed in registers.
  for (int64_t i = 0; i < kA; ++i) {
    __m512 r[8];
    for (int64_t p = 0; p < kL / 2; ++p) {
      const float* low = in_c + rows.offset[i][p];
      const float* high = in_c + rows.offset[i][p + 8];
      const Mask16 m = rows.mask[i][p];
      if (rows.small_plane) {
        const __m512 h = masked_load(static_cast<Mask16>(m >> 8), high);
        r[p] = _mm512_insertf32x8(masked_load(static_cast<Mask16>(m & 0xffu), low), _mm512_castps512_ps256(h), 1);
      } else {
        const __m512 both = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(low)), _mm256_loadu_ps(high), 1);
        r[p] = _mm512_maskz_permutexvar_ps(m, rows.index[i][p], both);
      }
    }
    transpose8_pairs(r);
    __m512 y[kA];
    bt_registers(r, y);
    for (int64_t j = 0; j < kA; ++j) _mm512_store_ps(t + (i * kA + j) * kL, y[j]);
  }
#elif defined(TG_WINOGRAD_AVX2)
  // Lane l's row i: one plain 8-float load of its window, a permute that puts column j at float j,
  // the mask zeroing what lies outside the image (no branches, no masked loads: those measured slow
  // here). One 8x8 transpose turns 8 lanes' rows into the row's 6 columns, transformed in registers.
  for (int64_t half = 0; half < kL; half += 8)
    for (int64_t i = 0; i < kA; ++i) {
      __m256 r[8];
      for (int64_t l = 0; l < 8; ++l) {
        const int64_t L = half + l;
        const float* window = in_c + rows.offset[i][L];
        r[l] = rows.small_plane
                   ? _mm256_maskload_ps(window, rows.mask[i][L])
                   : _mm256_and_ps(_mm256_permutevar8x32_ps(_mm256_loadu_ps(window), rows.index[i][L]),
                                   _mm256_castsi256_ps(rows.mask[i][L]));
      }
      transpose8(r);
      __m256 y[kA];
      bt_registers(r, y);
      for (int64_t j = 0; j < kA; ++j) _mm256_store_ps(t + (i * kA + j) * kL + half, y[j]);
    }
#else
  alignas(64) float d[kXi * kL];
  for (int64_t l = 0; l < kL; ++l)
    for (int64_t i = 0; i < kA; ++i)
      for (int64_t j = 0; j < kA; ++j) {
        const bool valid = rows.row_valid[i][l] && j >= rows.col_lo[l] && j < rows.col_hi[l];
        d[(i * kA + j) * kL + l] = valid ? in_c[rows.offset[i][l] + j] : 0.f;
      }
  for (int64_t i = 0; i < kA; ++i) apply_bt(d + i * kA * kL, kL, t + i * kA * kL, kL);  // rows
#endif
}

// V (36, C, T) for tiles [t0, t1) (lanes past t1 are zero) and channels [c0, c1):
// V[xi][c][j] = (B^T d B)[xi] of tile t0 + j, lanes = locate_groups() of the chunk. Channels outside,
// groups inside.
void input_transform(float* V, int64_t T, const float* in, const ConvShape& s, const Lanes* lanes, int64_t c0,
                     int64_t c1) {
  const int64_t VS = plane_floats(s.C, T), HW = s.H * s.W, groups = T / kL;
  alignas(64) float t[kXi * kL];
  thread_local std::vector<InputRows> t_rows;
  if (static_cast<int64_t>(t_rows.size()) < groups) t_rows.resize(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) locate_input_rows(t_rows[static_cast<size_t>(g)], lanes[g], s);
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t g = 0; g < groups; ++g) {
      gather_input_tiles_dB(t, t_rows[static_cast<size_t>(g)], in + c * HW);  // t = d B
      for (int64_t j = 0; j < kA; ++j)  // columns: V[i*6 + j] = (B^T t)[i][j]
        apply_bt(t + j * kL, kA * kL, V + j * VS + c * T + g * kL, kA * VS);
    }
}

// out[n, k, p0 + i, q0 + j] = epi((u A)[i][j] + bias) for lane l's tile, inside the map, from the
// column-transformed tiles u[(i*6 + j)*kL + l] = (A^T M)[i][j] (4x6): the second half of A^T M A, then
// stored. With ReluMaxPool2x2 the tile's 4x4 outputs become its 2x2 pooled ones (tiles start at even
// rows and columns, so every 2x2 window lies inside one tile): out[n, k, p0/2 + i, q0/2 + j], inside
// the pooled map (P/2, Q/2).
void scatter_output_tiles(float* out, const float* u, float bias, ConvEpilogue epi, const Lanes& ln, int64_t k,
                          const ConvShape& s) {
  const int64_t P = s.P(), Q = s.Q();
  const bool relu = epi != ConvEpilogue::None, pool = epi == ConvEpilogue::ReluMaxPool2x2;
#if defined(TG_WINOGRAD_AVX512)
  // Row i of the 16 lanes' tiles, transformed in registers: y[j] = output column j of the lanes.
  const __m512 vb = _mm512_set1_ps(bias);
  if (pool) {
    // Pooled row i from output rows 2i, 2i + 1: lane l's two values are pooled[0][l], pooled[1][l].
    const int64_t PP = P / 2, QQ = Q / 2;
    for (int64_t i = 0; i < kM / 2; ++i) {
      __m512 y0[kM], y1[kM];
      output_row(u + 2 * i * kA * kL, vb, relu, y0);
      output_row(u + (2 * i + 1) * kA * kL, vb, relu, y1);
      alignas(64) float pooled[2][kL];
      _mm512_store_ps(pooled[0], _mm512_max_ps(_mm512_max_ps(y0[0], y1[0]), _mm512_max_ps(y0[1], y1[1])));
      _mm512_store_ps(pooled[1], _mm512_max_ps(_mm512_max_ps(y0[2], y1[2]), _mm512_max_ps(y0[3], y1[3])));
      for (int64_t l = 0; l < kL && ln.n[l] >= 0; ++l) {
        const int64_t pp = ln.p0[l] / 2 + i, qq = ln.q0[l] / 2;
        if (pp >= PP) continue;
        float* row = out + ((ln.n[l] * s.K + k) * PP + pp) * QQ + qq;
        if (qq < QQ) row[0] = pooled[0][l];
        if (qq + 1 < QQ) row[1] = pooled[1][l];
      }
    }
    return;
  }
  // A 4x16 transpose (unpacks and shuffles within 128-bit blocks) gives lane 4b + r its 4 outputs of
  // the row in block b of q[r]: one 4-float store, masked at the map's right edge.
  for (int64_t i = 0; i < kM; ++i) {
    __m512 y[kM];
    output_row(u + i * kA * kL, vb, relu, y);
    const __m512 t0 = _mm512_unpacklo_ps(y[0], y[1]), t1 = _mm512_unpackhi_ps(y[0], y[1]);
    const __m512 t2 = _mm512_unpacklo_ps(y[2], y[3]), t3 = _mm512_unpackhi_ps(y[2], y[3]);
    alignas(64) float q[4][kL];
    _mm512_store_ps(q[0], _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)));
    _mm512_store_ps(q[1], _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)));
    _mm512_store_ps(q[2], _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)));
    _mm512_store_ps(q[3], _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)));
    for (int64_t l = 0; l < kL && ln.n[l] >= 0; ++l) {
      const int64_t p = ln.p0[l] + i;
      if (p >= P) continue;
      float* row = out + ((ln.n[l] * s.K + k) * P + p) * Q + ln.q0[l];
      const __m128 v = _mm_load_ps(q[l % 4] + 4 * (l / 4));
      if (ln.q0[l] + kM <= Q) {
        _mm_storeu_ps(row, v);
      } else {
        masked_store4(row, first_lanes(Q - ln.q0[l]), v);
      }
    }
  }
#elif defined(TG_WINOGRAD_AVX2)
  // Row i of 8 lanes' tiles, transformed in registers: y[j] = output column j of the 8 lanes.
  const __m256 vb = _mm256_set1_ps(bias);
  for (int64_t half = 0; half < kL; half += 8) {
    if (ln.n[half] < 0) break;
    if (pool) {
      // Pooled row i from output rows 2i, 2i + 1: column maxima, then pairs of columns; lane l's two
      // values end up side by side in pair[] (unpacklo/hi keep lanes 0,1,4,5 / 2,3,6,7).
      const int64_t PP = P / 2, QQ = Q / 2;
      constexpr int kPairAt[8] = {0, 2, 8, 10, 4, 6, 12, 14};
      for (int64_t i = 0; i < kM / 2; ++i) {
        __m256 y0[kM], y1[kM];
        output_row(u + 2 * i * kA * kL + half, vb, relu, y0);
        output_row(u + (2 * i + 1) * kA * kL + half, vb, relu, y1);
        const __m256 c0 = _mm256_max_ps(_mm256_max_ps(y0[0], y1[0]), _mm256_max_ps(y0[1], y1[1]));
        const __m256 c1 = _mm256_max_ps(_mm256_max_ps(y0[2], y1[2]), _mm256_max_ps(y0[3], y1[3]));
        alignas(32) float pair[16];
        _mm256_store_ps(pair, _mm256_unpacklo_ps(c0, c1));
        _mm256_store_ps(pair + 8, _mm256_unpackhi_ps(c0, c1));
        for (int64_t l = 0; l < 8; ++l) {
          const int64_t L = half + l, pp = ln.p0[L] / 2 + i, qq = ln.q0[L] / 2;
          if (ln.n[L] < 0) break;
          if (pp >= PP) continue;
          float* row = out + ((ln.n[L] * s.K + k) * PP + pp) * QQ + qq;
          const float* v = pair + kPairAt[l];
          if (qq + 1 < QQ) {
            row[0] = v[0];
            row[1] = v[1];
          } else if (qq < QQ) {
            row[0] = v[0];
          }
        }
      }
      continue;
    }
    // A 4x8 transpose gives each lane its 4 outputs of the row, one 4-float store.
    for (int64_t i = 0; i < kM; ++i) {
      __m256 y[kM];
      output_row(u + i * kA * kL + half, vb, relu, y);
      __m128 q[8];
      transpose4x8(y[0], y[1], y[2], y[3], q);
      for (int64_t l = 0; l < 8; ++l) {
        const int64_t L = half + l, p = ln.p0[L] + i;
        if (ln.n[L] < 0) break;
        if (p >= P) continue;
        float* row = out + ((ln.n[L] * s.K + k) * P + p) * Q + ln.q0[L];
        if (ln.q0[L] + kM <= Q) {
          _mm_storeu_ps(row, q[l]);
        } else {
          alignas(16) float v[4];
          _mm_store_ps(v, q[l]);
          for (int64_t j = 0; j < Q - ln.q0[L]; ++j) row[j] = v[j];
        }
      }
    }
  }
#else
  alignas(64) float y[kM * kM * kL];
  for (int64_t i = 0; i < kM; ++i) apply_at(u + i * kA * kL, kL, y + i * kM * kL, kL);  // rows: 4x4
  for (int64_t e = 0; e < kM * kM * kL; ++e) {
    const float v = y[e] + bias;
    y[e] = relu && !(v > 0.f) ? 0.f : v;
  }
  for (int64_t l = 0; l < kL; ++l) {
    if (ln.n[l] < 0) break;
    if (pool) {
      const int64_t PP = P / 2, QQ = Q / 2;
      float* plane = out + (ln.n[l] * s.K + k) * PP * QQ;
      const int64_t rows = std::min<int64_t>(2, PP - ln.p0[l] / 2), cols = std::min<int64_t>(2, QQ - ln.q0[l] / 2);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          auto at = [&](int64_t r, int64_t c) { return y[(r * kM + c) * kL + l]; };
          const float m = std::max(std::max(at(2 * i, 2 * j), at(2 * i, 2 * j + 1)),
                                   std::max(at(2 * i + 1, 2 * j), at(2 * i + 1, 2 * j + 1)));
          plane[(ln.p0[l] / 2 + i) * QQ + ln.q0[l] / 2 + j] = m;
        }
      continue;
    }
    float* plane = out + (ln.n[l] * s.K + k) * P * Q;
    const int64_t rows = std::min(kM, P - ln.p0[l]), cols = std::min(kM, Q - ln.q0[l]);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) plane[(ln.p0[l] + i) * Q + ln.q0[l] + j] = y[(i * kM + j) * kL + l];
  }
#endif
}

// out = epi(bias[k] + (A^T M A)[i][j]) of each tile in the chunk's first `groups` groups of lanes,
// inside the (pooled) map.
void output_transform(float* out, const float* M, int64_t T, const float* b, ConvEpilogue epi, const ConvShape& s,
                      const Lanes* lanes, int64_t groups) {
  const int64_t MS = plane_floats(s.K, T);
  alignas(64) float u[kM * kA * kL];
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t g = 0; g < groups; ++g) {
      const float* m = M + k * T + g * kL;  // M[xi][k][g kL + l] at m[xi * MS + l]
      for (int64_t j = 0; j < kA; ++j) apply_at(m + j * MS, kA * MS, u + j * kL, kA * kL);  // columns: 4x6
      scatter_output_tiles(out, u, b ? b[k] : 0.f, epi, lanes[g], k, s);  // rows, bias, epilogue, store
    }
}

// Where lane l's 4x4 dout tile rows lie, worked out once per group and shared by every channel: row
// i starts at dout[k * P * Q + offset[i][l]] (offset = (n K P + p) Q + q0, p = p0 + i clamped into the
// map) with `cols[l]` columns inside the map (4, fewer at the right edge); rows below the map and lanes
// without a tile have none.
struct DoutRows {
  int64_t offset[kM][kL];
  bool row_valid[kM][kL];
  int64_t cols[kL];
};

void locate_dout_rows(DoutRows& rows, const Lanes& ln, const ConvShape& s) {
  const int64_t P = s.P(), Q = s.Q();
  for (int64_t l = 0; l < kL; ++l) {
    const bool tile = ln.n[l] >= 0;
    rows.cols[l] = tile ? std::min(kM, Q - ln.q0[l]) : 0;
    for (int64_t i = 0; i < kM; ++i) {
      const int64_t p = std::min(ln.p0[l] + i, P - 1);
      rows.row_valid[i][l] = tile && ln.p0[l] + i < P;
      rows.offset[i][l] = tile ? (ln.n[l] * s.K * P + p) * Q + ln.q0[l] : 0;
    }
  }
}

// dy[(i*4 + j)*kL + l] = dout_k[offset[i][l] + j] of lane l's tile in one channel's planes dout_k
// (0 outside the map and for lanes without a tile).
void gather_dout_tiles(float* dy, const DoutRows& rows, const float* dout_k) {
#if defined(TG_WINOGRAD_AVX512)
  // Row i of the 16 lanes' tiles: one 4-float load per lane (masked to the columns inside the map
  // at its right edge), lane 4b + c into block b of r[c]; then the inverse of the output's 4x16
  // transpose gives the row's 4 columns across the 16 lanes.
  for (int64_t i = 0; i < kM; ++i) {
    __m128 q[kL];
    for (int64_t l = 0; l < kL; ++l) {
      const float* row = dout_k + rows.offset[i][l];
      q[l] = _mm_setzero_ps();
      if (rows.row_valid[i][l]) q[l] = rows.cols[l] == kM ? _mm_loadu_ps(row) : masked_load4(first_lanes(rows.cols[l]), row);
    }
    __m512 r[4];
    for (int c = 0; c < 4; ++c)
      r[c] = _mm512_insertf32x4(
          _mm512_insertf32x4(_mm512_insertf32x4(_mm512_castps128_ps512(q[c]), q[c + 4], 1), q[c + 8], 2), q[c + 12], 3);
    const __m512 t0 = _mm512_unpacklo_ps(r[0], r[1]), t1 = _mm512_unpackhi_ps(r[0], r[1]);
    const __m512 t2 = _mm512_unpacklo_ps(r[2], r[3]), t3 = _mm512_unpackhi_ps(r[2], r[3]);
    float* d = dy + i * kM * kL;
    _mm512_store_ps(d, _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)));
    _mm512_store_ps(d + kL, _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)));
    _mm512_store_ps(d + 2 * kL, _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)));
    _mm512_store_ps(d + 3 * kL, _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)));
  }
#elif defined(TG_WINOGRAD_AVX2)
  // Row i of 8 lanes' tiles: one 4-float load per lane (masked to the columns inside the map at
  // its right edge), then the inverse of transpose4x8 gives the row's 4 columns across the 8 lanes.
  const __m128i column = _mm_setr_epi32(0, 1, 2, 3);
  for (int64_t half = 0; half < kL; half += 8) {
    for (int64_t i = 0; i < kM; ++i) {
      __m128 q[8];
      for (int64_t l = 0; l < 8; ++l) {
        const int64_t L = half + l;
        const float* row = dout_k + rows.offset[i][L];
        if (!rows.row_valid[i][L]) {
          q[l] = _mm_setzero_ps();
        } else if (rows.cols[L] == kM) {
          q[l] = _mm_loadu_ps(row);
        } else {
          q[l] = _mm_maskload_ps(row, _mm_cmpgt_epi32(_mm_set1_epi32(static_cast<int32_t>(rows.cols[L])), column));
        }
      }
      __m256 r[4];
      for (int l = 0; l < 4; ++l) r[l] = _mm256_set_m128(q[l + 4], q[l]);
      const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
      const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
      float* d = dy + i * kM * kL + half;
      _mm256_store_ps(d, _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)));
      _mm256_store_ps(d + kL, _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)));
      _mm256_store_ps(d + 2 * kL, _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)));
      _mm256_store_ps(d + 3 * kL, _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)));
    }
  }
#else
  for (int64_t l = 0; l < kL; ++l)
    for (int64_t i = 0; i < kM; ++i)
      for (int64_t j = 0; j < kM; ++j)
        dy[(i * kM + j) * kL + l] = rows.row_valid[i][l] && j < rows.cols[l] ? dout_k[rows.offset[i][l] + j] : 0.f;
#endif
}

// E (36, K, T) for channels [k0, k1): E[xi][k][j] = (A dY A^T)[xi] of the 4x4 dout tile t0 + j (0 outside
// the map / past t1).
void dout_transform(float* E, int64_t T, const float* dout, const ConvShape& s, const Lanes* lanes, int64_t k0,
                    int64_t k1) {
  const int64_t ES = plane_floats(s.K, T), groups = T / kL, PQ = s.P() * s.Q();
  alignas(64) float dy[kM * kM * kL], tmp[kA * kM * kL];
  thread_local std::vector<DoutRows> t_rows;
  if (static_cast<int64_t>(t_rows.size()) < groups) t_rows.resize(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) locate_dout_rows(t_rows[static_cast<size_t>(g)], lanes[g], s);
  for (int64_t k = k0; k < k1; ++k)
    for (int64_t g = 0; g < groups; ++g) {
      gather_dout_tiles(dy, t_rows[static_cast<size_t>(g)], dout + k * PQ);
      for (int64_t j = 0; j < kM; ++j) apply_a(dy + j * kL, kM * kL, tmp + j * kL, kM * kL);  // columns: 6x4
      for (int64_t i = 0; i < kA; ++i) apply_a(tmp + i * kM * kL, kL, E + i * kA * ES + k * T + g * kL, ES);  // rows
    }
}

// din[n, c, h0 + i, w0 + j] += dd[(i*6 + j)*kL + l] for lane l's tile, inside the image, lanes in
// order (a fixed order of the sums, whatever the thread count).
void scatter_add_input_tiles(float* din, const float* dd, const Lanes& ln, int64_t c, const ConvShape& s) {
  const int64_t HW = s.H * s.W;
#if defined(TG_WINOGRAD_AVX2) || defined(TG_WINOGRAD_AVX512)
  // The 8x8 transposes (columns 6, 7 zero) give each lane its rows: lane_row(i, l) = lane l's row i.
  // Horizontal neighbours overlap in two columns (tile columns 4, 5 are the next tile's 0, 1), and a
  // load of what the previous lane has just stored, partly overlapping that store, stalls (no store
  // forwarding). So where the next lane is the right neighbour (same image and tile row), a lane
  // stores only its columns 0..3 and carries its columns 4, 5 over: the neighbour stores
  // (din + carry) + its own part, the very sums (and roundings) of adding the two tiles one after the
  // other, so the result does not depend on which tiles share a group.
#if defined(TG_WINOGRAD_AVX512)
  // AVX-512: one pair of transposes for all 16 lanes, lane p's row in the low and lane p + 8's in the
  // high half of r[p], stored whole: lane l's row i at rows[i][l % 8] + 8 (l / 8).
  alignas(64) float rows[kA][kL / 2][16];
  auto lane_row = [&rows](int64_t i, int64_t l) -> const float* { return rows[i][l % 8] + 8 * (l / 8); };
  for (int64_t i = 0; i < kA && ln.n[0] >= 0; ++i) {
    __m512 r[8];
    for (int64_t j = 0; j < kA; ++j) r[j] = _mm512_load_ps(dd + (i * kA + j) * kL);
    r[6] = r[7] = _mm512_setzero_ps();
    transpose8_pairs(r);
    for (int64_t p = 0; p < kL / 2; ++p) _mm512_store_ps(rows[i][p], r[p]);
  }
#else
  alignas(32) float rows[kA][kL][8];
  auto lane_row = [&rows](int64_t i, int64_t l) -> const float* { return rows[i][l]; };
  for (int64_t half = 0; half < kL; half += 8) {
    if (ln.n[half] < 0) break;
    for (int64_t i = 0; i < kA; ++i) {
      __m256 r[8];
      for (int64_t j = 0; j < kA; ++j) r[j] = _mm256_load_ps(dd + (i * kA + j) * kL + half);
      r[6] = r[7] = _mm256_setzero_ps();
      transpose8(r);
      for (int64_t l = 0; l < 8; ++l) _mm256_store_ps(rows[i][half + l], r[l]);
    }
  }
#endif
  __m128 carry[kA];
  for (int64_t i = 0; i < kA; ++i) carry[i] = _mm_setzero_ps();
  for (int64_t l = 0; l < kL && ln.n[l] >= 0; ++l) {
    const int64_t h0 = ln.p0[l] - s.pad_h, w0 = ln.q0[l] - s.pad_w;
    const int64_t lo = std::max<int64_t>(0, -w0), hi = std::min(kA, s.W - w0);  // columns inside: [lo, hi)
    const bool right_is_next =
        l + 1 < kL && ln.n[l + 1] == ln.n[l] && ln.p0[l + 1] == ln.p0[l] && ln.q0[l + 1] == ln.q0[l] + kM;
    float* plane = din + (ln.n[l] * s.C + c) * HW;
    for (int64_t i = std::max<int64_t>(0, -h0); i < std::min(kA, s.H - h0); ++i) {
      float* row = plane + (h0 + i) * s.W + w0;  // row[j] = column j of the tile
      const __m128 left = _mm_load_ps(lane_row(i, l));  // columns 0..3
      if (lo == 0 && hi >= 4) {
        _mm_storeu_ps(row, _mm_add_ps(_mm_add_ps(_mm_loadu_ps(row), carry[i]), left));
      } else {
#if defined(TG_WINOGRAD_AVX512)
        const Mask16 inside = static_cast<Mask16>(first_lanes(std::min<int64_t>(4, hi)) & ~first_lanes(lo));
        masked_store4(row, inside, _mm_add_ps(_mm_add_ps(masked_load4(inside, row), carry[i]), left));
#else
        alignas(16) float v[4], cv[4];
        _mm_store_ps(v, left);
        _mm_store_ps(cv, carry[i]);
        for (int64_t j = lo; j < std::min<int64_t>(4, hi); ++j) row[j] = (row[j] + cv[j]) + v[j];
#endif
      }
      const __m128 right = _mm_load_ps(lane_row(i, l) + 4);  // columns 4, 5 (then two zeros)
      if (right_is_next) {
        carry[i] = right;
      } else {
#if defined(TG_WINOGRAD_AVX512)
        const Mask16 inside = first_lanes(hi - 4);
        masked_store4(row + 4, inside, _mm_add_ps(masked_load4(inside, row + 4), right));
#else
        alignas(16) float v[4];
        _mm_store_ps(v, right);
        for (int64_t j = 4; j < hi; ++j) row[j] += v[j - 4];
#endif
        carry[i] = _mm_setzero_ps();
      }
    }
  }
#else
  for (int64_t l = 0; l < kL; ++l) {
    if (ln.n[l] < 0) break;
    const int64_t h0 = ln.p0[l] - s.pad_h, w0 = ln.q0[l] - s.pad_w;
    float* plane = din + (ln.n[l] * s.C + c) * HW;
    const int64_t i0 = std::max<int64_t>(0, -h0), i1 = std::min(kA, s.H - h0);
    const int64_t j_lo = std::max<int64_t>(0, -w0), j_hi = std::min(kA, s.W - w0);
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = j_lo; j < j_hi; ++j) plane[(h0 + i) * s.W + w0 + j] += dd[(i * kA + j) * kL + l];
  }
#endif
}

// din[n, c, h0 + i, w0 + j] += (B dV B^T)[i][j] of each tile in [t0, t1), channels [c0, c1), inside the image.
void input_transform_adjoint(float* din, const float* dV, int64_t T, const ConvShape& s, const Lanes* lanes,
                             int64_t groups, int64_t c0, int64_t c1) {
  const int64_t VS = plane_floats(s.C, T);
  alignas(64) float tmp[kXi * kL], dd[kXi * kL];
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t g = 0; g < groups; ++g) {  // per channel, tiles in order: the sums keep tile order
      const float* v = dV + c * T + g * kL;  // dV[xi][c][g kL + l] at v[xi * VS + l]
      for (int64_t j = 0; j < kA; ++j) apply_b(v + j * VS, kA * VS, tmp + j * kL, kA * kL);   // columns
      for (int64_t i = 0; i < kA; ++i) apply_b(tmp + i * kA * kL, kL, dd + i * kA * kL, kL);  // rows
      scatter_add_input_tiles(din, dd, lanes[g], c, s);
    }
}

// Zeroes din's rows (all of channels [c0, c1)) from input row `zeroed` (an index over (n, h): n H + h)
// up to the last row that the tiles before t1 touch, and returns where it stopped. The backward
// calls it just before each chunk's scatter, so din is zeroed while the chunk is about to add into
// it (the lines are in cache), not in one pass over all of din first (a write and a read of din
// from memory more). Tiles run in order, so each row is zeroed once, before its first sum; the last
// tile row of an image reaches its last input row (pad <= 2), so every row is zeroed.
int64_t zero_din_rows(float* din, const ConvShape& s, const Grid& gr, int64_t t1, int64_t c0, int64_t c1,
                      int64_t zeroed) {
  const int64_t last = t1 - 1, n = last / gr.per_image, ty = (last % gr.per_image) / gr.TW;
  const int64_t until = n * s.H + std::min(s.H, ty * kM - s.pad_h + kA);  // rows of all images before n, then n's
  for (int64_t r = zeroed; r < until;) {
    const int64_t img = r / s.H, h = r % s.H, rows = std::min(until - r, s.H - h);
    for (int64_t c = c0; c < c1; ++c)
      std::memset(din + ((img * s.C + c) * s.H + h) * s.W, 0, sizeof(float) * rows * s.W);
    r += rows;
  }
  return std::max(zeroed, until);
}

// Tiles per chunk: a multiple of kChunkAlign whose V and M/E fit the budget (at least kMinChunkTiles), and
// no more than `cap` tiles rounded up to kChunkAlign (the forward passes each thread's share, so all get work).
// Each chunk reads all 36 weight planes U (and the backward reads and writes dU), 36 K C floats, against
// its own V and M/E, 36 (C + K) T. Past kCachedPlanesFloats those planes come from memory every chunk,
// so a chunk takes at least K C / (K + C) tiles: its planes then cost no more traffic than its tiles
// (512 -> 512 channels at 4x4: 256 tiles instead of 64; measured +10-25% on that layer's passes, while
// 256 -> 256, whose 9.4 MB of planes stay in this host's L3, measured 10-20% slower at 128 tiles).
int64_t chunk_tiles(const ConvShape& s, int64_t cap) {
  const int64_t planes_bound =
      kXi * s.K * s.C > kCachedPlanesFloats ? (s.K * s.C / (s.K + s.C) + kChunkAlign - 1) / kChunkAlign * kChunkAlign : 0;
  const int64_t fewest = std::max(kMinChunkTiles, planes_bound);
  const int64_t fit = std::max(fewest, kChunkBudgetFloats / (kXi * (s.C + s.K)) / kChunkAlign * kChunkAlign);
  const int64_t share = (cap + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
  return std::max(kChunkAlign, std::min(fit, share));
}

// One transformed-domain product, C = op(A) op(B) + beta C, in the conv's precision: sgemm, or the
// bf16 GEMM (ConvPrecision::Bf16, gemm_bf16.h).
void product(const ConvShape& s, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
             int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (s.precision == ConvPrecision::Bf16) {
    cpu::gemm_bf16(trans_a, trans_b, M, N, K, 1.f, A, lda, B, ldb, beta, C, ldc);
  } else {
    sgemm(trans_a, trans_b, M, N, K, 1.f, A, lda, B, ldb, beta, C, ldc);
  }
}

// The weight planes U[xi] (K, C) as the products take them: each plane packed once per call as
// op(U) for the forward or U^T for the input gradient, in the GEMM's own layout (sgemm_pack_a, or
// gemm_bf16_pack_a with bf16), so the chunks do not pack (and round) the same weights again. Before
// (fp32), every chunk re-packed all 36 planes: 36 K C floats per chunk, ~38M floats per ResNet-18
// conv at batch 256 in each of the forward and the input gradient.
struct WeightPlanes {
  const float* packed;  // kXi packed planes, PS apart
  int64_t PS;
  bool transposed;      // op(U[xi]) = U[xi]^T (C, K)
};

thread_local std::vector<float> t_u_packed;

WeightPlanes weight_planes(const float* U, const ConvShape& s, bool transposed, int threads) {
  const int64_t M = transposed ? s.C : s.K, K = transposed ? s.K : s.C, US = plane_floats(s.K, s.C);
  WeightPlanes p{nullptr, 0, transposed};
  if (U == nullptr) return p;  // no input gradient wanted: no planes
  if (s.precision == ConvPrecision::Bf16) {
    p.packed = cpu::gemm_bf16_pack_planes(t_u_packed, kXi, transposed, M, K, U, s.C, US, &p.PS, threads);
    return p;
  }
  p.PS = (sgemm_packed_a_floats(M, K) + 15) / 16 * 16;  // each plane 64-byte aligned
  float* packed = grow_aligned(t_u_packed, static_cast<size_t>(kXi * p.PS));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && M * K >= 4096)
  for (int64_t xi = 0; xi < kXi; ++xi) sgemm_pack_a(packed + xi * p.PS, transposed, M, K, U + xi * US, s.C);
  p.packed = packed;
  return p;
}

// C (rows of op(U), N) = op(U[xi]) x B (K of op(U), N) + beta C, in the conv's precision.
void weight_product(const WeightPlanes& p, const ConvShape& s, int64_t xi, int64_t N, const float* B, int64_t ldb,
                    float beta, float* C, int64_t ldc) {
  const int64_t M = p.transposed ? s.C : s.K, K = p.transposed ? s.K : s.C;
  if (s.precision == ConvPrecision::Bf16) {
    cpu::gemm_bf16_packed(p.packed + xi * p.PS, M, K, false, N, 1.f, B, ldb, beta, C, ldc);
  } else {
    sgemm_packed(p.packed + xi * p.PS, M, K, false, N, 1.f, B, ldb, beta, C, ldc);
  }
}

// The backward's two products for transformed point xi of a chunk of T tiles; U (the planes, as
// U^T) or dU is null when that gradient is not wanted:
//   dU[xi] (K, C) = beta dU[xi] + E[xi] (K, T) x V[xi]^T   (beta 0: dU is not read)
//   dV[xi] (C, T)  = U[xi]^T (C, K) x E[xi] (K, T), into V[xi]'s place (V[xi] is used up by then)
void backward_products(float* V, const float* E, const WeightPlanes* U, float* dU, float beta, int64_t T,
                       const ConvShape& s, int64_t xi) {
  const int64_t US = plane_floats(s.K, s.C);
  float* Vx = V + xi * plane_floats(s.C, T);
  const float* Ex = E + xi * plane_floats(s.K, T);
  if (dU) product(s, false, true, s.K, s.C, T, Ex, T, Vx, T, beta, dU + xi * US, s.C);
  if (U) weight_product(*U, s, xi, T, Ex, T, 0.f, Vx, T);
}

// How many image groups ("units") backward_by_images cuts the batch into: as many as fit
// kUnitsBudgetFloats of dU partials (one 36 K C block each), at most kMaxUnits, at most N. It
// depends on the shape only, never on the thread count, so the sums below are the same at any.
constexpr int64_t kMaxUnits = 16;
constexpr int64_t kUnitsBudgetFloats = 4 * 1024 * 1024;  // 16 MiB of partials

// A power of two, so that 2, 4, 8 or 16 threads share the units evenly.
int64_t image_units(const ConvShape& s) {
  const int64_t per_unit = kXi * plane_floats(s.K, s.C);
  int64_t units = kMaxUnits;
  while (units > 1 && (units > s.N || units * per_unit > kUnitsBudgetFloats)) units /= 2;
  return units;
}

// Backward with the batch cut into fixed units of whole images (tiles of one image overlap in din, so
// din needs no locks). Threads take units dynamically (a core slowed by the VM's neighbours gets
// fewer; a static half per thread measured finishing up to 15-20 ms apart). Each unit accumulates its
// own dU partial, summed in unit order after:
//   dU = dU_0 + dU_1 + ... + dU_{G-1}
// so dW, like din, is the same bits at any thread count.
void backward_by_images(float* din, float* dw, const float* dout, const float* in, const float* w, const ConvShape& s,
                        int threads) {
  const Grid gr = grid(s);
  const int64_t US = plane_floats(s.K, s.C), units = image_units(s);
  float* U = din ? grow_aligned(t_u, static_cast<size_t>(kXi * US)) : nullptr;
  if (din) weight_transform(U, w, s);
  const WeightPlanes planes = weight_planes(U, s, /*transposed=*/true, threads);
  const WeightPlanes* Ut = din ? &planes : nullptr;
  float* dU = dw ? grow_aligned(t_du, static_cast<size_t>(units * kXi * US)) : nullptr;  // one block per unit
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1 && units > 1)
  for (int64_t u = 0; u < units; ++u) {
    const int64_t n0 = s.N * u / units, n1 = s.N * (u + 1) / units;
    const int64_t first = n0 * gr.per_image, last = n1 * gr.per_image;
    const int64_t T = chunk_tiles(s, last - first);
    float* V = grow_aligned(t_v, static_cast<size_t>(kXi * plane_floats(s.C, T)));
    float* E = grow_aligned(t_m, static_cast<size_t>(kXi * plane_floats(s.K, T)));
    float* dU_unit = dU ? dU + u * kXi * US : nullptr;  // written by the unit's first chunk (beta 0)
    int64_t zeroed = n0 * s.H;  // din rows zeroed so far (zero_din_rows)
    for (int64_t t0 = first; t0 < last; t0 += T) {
      const int64_t t1 = std::min(last, t0 + T);
      const Lanes* lanes = locate_groups(gr, t0, t1, T);
      dout_transform(E, T, dout, s, lanes, 0, s.K);
      if (dU_unit) input_transform(V, T, in, s, lanes, 0, s.C);
      const float beta = t0 == first ? 0.f : 1.f;
      for (int64_t xi = 0; xi < kXi; ++xi) backward_products(V, E, Ut, dU_unit, beta, T, s, xi);
      if (din) {
        zeroed = zero_din_rows(din, s, gr, t1, 0, s.C, zeroed);
        input_transform_adjoint(din, V, T, s, lanes, groups_with_tiles(t0, t1), 0, s.C);
      }
    }
  }
  if (dw) {
    if (units > 1) {
      // dU_0 += dU_1 + ... in unit order, element by element (the threads split the elements).
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && kXi * US > 65536)
      for (int64_t i = 0; i < kXi * US; ++i) {
        float sum = dU[i];
        for (int64_t u = 1; u < units; ++u) sum += dU[u * kXi * US + i];
        dU[i] = sum;
      }
    }
    weight_transform_adjoint(dw, dU, s);
  }
}

// Backward with the team on one chunk at a time: the transforms split by channel, the products by
// xi. One shared dU, summed chunk by chunk in the same order for any thread count.
void backward_by_chunks(float* din, float* dw, const float* dout, const float* in, const float* w, const ConvShape& s,
                        int threads) {
  const Grid gr = grid(s);
  const int64_t tiles = s.N * gr.per_image, US = plane_floats(s.K, s.C);
  const int64_t T = chunk_tiles(s, tiles);
  float* U = din ? grow_aligned(t_u, static_cast<size_t>(kXi * US)) : nullptr;
  float* dU = dw ? grow_aligned(t_du, static_cast<size_t>(kXi * US)) : nullptr;
  float* V = grow_aligned(t_v, static_cast<size_t>(kXi * plane_floats(s.C, T)));
  float* E = grow_aligned(t_m, static_cast<size_t>(kXi * plane_floats(s.K, T)));
  if (din) weight_transform(U, w, s);
  const WeightPlanes planes = weight_planes(U, s, /*transposed=*/true, threads);
  const WeightPlanes* Ut = din ? &planes : nullptr;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int tid = omp_get_thread_num(), team = omp_get_num_threads();
    // This thread's share of the input and output channels in the transform phases.
    const int64_t c0 = s.C * tid / team, c1 = s.C * (tid + 1) / team;
    const int64_t k0 = s.K * tid / team, k1 = s.K * (tid + 1) / team;
    int64_t zeroed = 0;  // din rows of this thread's channels zeroed so far (zero_din_rows)
    if (dU) {
#pragma omp for schedule(static)
      for (int64_t i = 0; i < kXi * US; ++i) dU[i] = 0.f;
    }
    for (int64_t t0 = 0; t0 < tiles; t0 += T) {
      const int64_t t1 = std::min(tiles, t0 + T);
      const Lanes* lanes = locate_groups(gr, t0, t1, T);
      // 1. transforms of this chunk's dout (E) and input (V) tiles, split by channel
      dout_transform(E, T, dout, s, lanes, k0, k1);
      if (dU) input_transform(V, T, in, s, lanes, c0, c1);
#pragma omp barrier
      // 2. the products, one thread per transformed point xi
#pragma omp for schedule(static)
      for (int64_t xi = 0; xi < kXi; ++xi) backward_products(V, E, Ut, dU, 1.f, T, s, xi);
      // (implicit barrier: dV complete)
      // 3. din += B dV B^T, split by channel (each channel's planes belong to one thread)
      if (din) {
        zeroed = zero_din_rows(din, s, gr, t1, c0, c1, zeroed);
        input_transform_adjoint(din, V, T, s, lanes, groups_with_tiles(t0, t1), c0, c1);
      }
#pragma omp barrier
    }
  }
  if (dw) weight_transform_adjoint(dw, dU, s);
}

}  // namespace

bool winograd_applies(const ConvShape& s) {
  return s.algorithm == ConvAlgorithm::Auto && s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 &&
         s.groups == 1 && s.pad_h <= 2 && s.pad_w <= 2 && s.C >= 16 && s.K >= 16 && s.P() >= 4 && s.Q() >= 4;
}

void winograd_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s,
                      ConvEpilogue epi) {
  const Grid gr = grid(s);
  const int64_t tiles = s.N * gr.per_image;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t T = chunk_tiles(s, (tiles + threads - 1) / threads);
  const int64_t chunks = (tiles + T - 1) / T;
  const int64_t US = plane_floats(s.K, s.C), VS = plane_floats(s.C, T), MS = plane_floats(s.K, T);
  float* U = grow_aligned(t_u, static_cast<size_t>(kXi * US));
  weight_transform(U, w, s);
  const WeightPlanes planes = weight_planes(U, s, /*transposed=*/false, threads);
  // Chunks write disjoint output tiles: any thread may take any chunk, the result is the same.
#pragma omp parallel for schedule(dynamic, 1) if (threads > 1 && chunks > 1)
  for (int64_t i = 0; i < chunks; ++i) {
    const int64_t t0 = i * T, t1 = std::min(tiles, t0 + T);
    float* V = grow_aligned(t_v, static_cast<size_t>(kXi * VS));
    float* M = grow_aligned(t_m, static_cast<size_t>(kXi * MS));
    const Lanes* lanes = locate_groups(gr, t0, t1, T);
    input_transform(V, T, in, s, lanes, 0, s.C);
    for (int64_t xi = 0; xi < kXi; ++xi)  // M[xi] (K, T) = U[xi] (K, C) x V[xi] (C, T)
      weight_product(planes, s, xi, T, V + xi * VS, T, 0.f, M + xi * MS, T);
    output_transform(out, M, T, b, epi, s, lanes, groups_with_tiles(t0, t1));
  }
}

void winograd_backward(float* din, float* dw, const float* dout, const float* in, const float* w, const ConvShape& s) {
  if (!din && !dw) return;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  // By images moves less data between cores (measured faster for 32 -> 32 channels), but keeps one
  // 36 K C dU per unit of images: 38 MB each for 512 -> 512. From 128 x 128 channels on, where chunks
  // of the whole team measured as fast, the team shares one, at any thread count (the same sums).
  if (s.K * s.C >= kTeamMinKC) {
    backward_by_chunks(din, dw, dout, in, w, s, threads);
  } else {
    backward_by_images(din, dw, dout, in, w, s, threads);
  }
}

}  // namespace tg::cpu::TG_ISA_NS
