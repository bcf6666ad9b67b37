// Direct 3x3 stride-1 convolution for few input channels (see conv2d_direct.h for the maths).
#include "engine/cpu/kernels/isa_kernels.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/kernels/simd_ops.h"
#include "engine/cpu/kernels/simd_transpose.h"
#include "engine/cpu/scratch.h"

#if TG_ISA_LEVEL >= 1
#define TG_DIRECT_AVX2 1
#endif

namespace tg::cpu::TG_ISA_NS {

#ifndef TG_DIRECT_AVX2

bool direct_applies(const ConvShape&) { return false; }
void direct_forward(float*, const float*, const float*, const float*, const ConvShape&, bool) {}
void direct_weight_grad(float*, const float*, const float*, const ConvShape&) {}
void direct_input_grad(float*, const float*, const float*, const ConvShape&) {}

#else

namespace {

constexpr int64_t kMaxChannels = 4;

// Lanes [0, n) of 8 on, the rest off (n clamped to [0, 8]): pad_dout's 8-float copies, AVX2's masks.
inline __m256i lane_mask(int64_t n) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::clamp<int64_t>(n, 0, 8))), lane);
}

// The loops' float vectors: kVec lanes, __m512 with AVX-512 (ragged ends by mask registers), __m256
// with AVX2. fmadd / add / splat / relu_lanes come from simd_ops.h; the rest:
//   load_vec(p), store_vec(p, v)                plain loads and stores of kVec floats
//   first_mask(n); load_masked, store_masked    lanes [0, n) (n clamped to [0, kVec]); 0 loaded past n
#if TG_ISA_LEVEL >= 2
using Vec = __m512;
using VecMask = Mask16;
constexpr int64_t kVec = 16;
inline Vec load_vec(const float* p) { return _mm512_loadu_ps(p); }
inline void store_vec(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline VecMask first_mask(int64_t n) { return first_lanes(n); }
inline Vec load_masked(const float* p, VecMask m) { return masked_load(m, p); }
inline void store_masked(float* p, VecMask m, Vec v) { masked_store(p, m, v); }
#else
using Vec = __m256;
using VecMask = __m256i;
constexpr int64_t kVec = 8;
inline Vec load_vec(const float* p) { return _mm256_loadu_ps(p); }
inline void store_vec(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline VecMask first_mask(int64_t n) { return lane_mask(n); }
inline Vec load_masked(const float* p, VecMask m) { return _mm256_maskload_ps(p, m); }
inline void store_masked(float* p, VecMask m, Vec v) { _mm256_maskstore_ps(p, m, v); }
#endif

constexpr int64_t kRowBlock = 2 * kVec;  // output columns per forward register block: 2 vectors

// The padded image: xp[c][i][j] = x[c][i - pad_h][j - pad_w], zero outside; Hp = P + 2 rows, Wp
// columns (the last row block's loads at q + s + kRowBlock - 1 stay inside the row).
struct Padded {
  int64_t Hp, Wp;
};

Padded padded_geometry(const ConvShape& s) {
  const int64_t blocks = (s.Q() + kRowBlock - 1) / kRowBlock;
  return {s.P() + 2, blocks * kRowBlock + kVec};
}

thread_local std::vector<float> t_xp;  // one padded image per thread, grown on demand and kept

// Fills the calling thread's padded copy of image `img` (C, H, W) and returns it.
const float* pad_image(const float* img, const ConvShape& s, const Padded& g) {
  const size_t size = static_cast<size_t>(s.C * g.Hp * g.Wp);
  float* xp = grow_aligned(t_xp, size);
  std::memset(xp, 0, sizeof(float) * size);
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t h = 0; h < s.H; ++h) {
      const int64_t i = h + s.pad_h;  // padded row
      if (i >= g.Hp) break;
      std::memcpy(xp + (c * g.Hp + i) * g.Wp + s.pad_w, img + (c * s.H + h) * s.W, sizeof(float) * s.W);
    }
  return xp;
}

// Stores y to dst[0, n) of an output row (n = the columns left in the row; nothing when n <= 0).
inline void store_row(float* dst, Vec y, int64_t n, bool relu) {
  if (relu) y = relu_lanes(y);
  if (n >= kVec) {
    store_vec(dst, y);
  } else if (n > 0) {
    store_masked(dst, first_mask(n), y);
  }
}

// out_n[k0..k0+KB)[p][q..q+kVec V) (stores clipped to Q): KB x V accumulators, seeded with the bias.
// Per tap (c, r, t) the V shifted input vectors are loaded once and kept in registers (the empty asm
// stops GCC from folding the load into each of the KB FMAs: KB loads per vector instead of one), then
// each of the KB weights is broadcast once and feeds V FMAs. KB x V = 12 accumulators hide the FMA
// latency (5 cycles x 2 per cycle needs >= 10 chains); 12 + V + 1 registers fit the 16.
template <int KB, int V>
void forward_block(float* out_n, const float* xp, const float* w, const float* b, const ConvShape& s, const Padded& g,
                   bool relu, int64_t k0, int64_t p, int64_t q) {
  const int64_t P = s.P(), Q = s.Q(), taps = s.C * 9;
  Vec acc[KB][V];
  for (int j = 0; j < KB; ++j)
    for (int v = 0; v < V; ++v) acc[j][v] = splat<Vec>(b ? b[k0 + j] : 0.f);
  for (int64_t c = 0; c < s.C; ++c)
    for (int r = 0; r < 3; ++r) {
      const float* row = xp + (c * g.Hp + p + r) * g.Wp + q;
      for (int t = 0; t < 3; ++t) {
        Vec x[V];
        for (int v = 0; v < V; ++v) {
          x[v] = load_vec(row + t + kVec * v);
          keep_in_register(x[v]);
        }
        const float* wt = w + k0 * taps + c * 9 + r * 3 + t;  // w[k0, c, r, t]
        for (int j = 0; j < KB; ++j) {
          const Vec wv = splat<Vec>(wt[j * taps]);
          for (int v = 0; v < V; ++v) acc[j][v] = fmadd(wv, x[v], acc[j][v]);
        }
      }
    }
  for (int j = 0; j < KB; ++j) {
    float* o = out_n + ((k0 + j) * P + p) * Q + q;
    for (int v = 0; v < V; ++v) store_row(o + kVec * v, acc[j][v], Q - q - kVec * v, relu);
  }
}

// Output channels [k0, k0 + KB) for every row and column block of the image.
template <int KB>
void forward_channels(float* out_n, const float* xp, const float* w, const float* b, const ConvShape& s,
                      const Padded& g, bool relu, int64_t k0) {
  for (int64_t p = 0; p < s.P(); ++p)
    for (int64_t q = 0; q < s.Q(); q += kRowBlock)
      forward_block<KB, kRowBlock / kVec>(out_n, xp, w, b, s, g, relu, k0, p, q);
}

// Channels [k, k + n), n <= 6, in one block.
void forward_block_of(int64_t n, float* out_n, const float* xp, const float* w, const float* b, const ConvShape& s,
                      const Padded& g, bool relu, int64_t k) {
  switch (n) {
    case 6: return forward_channels<6>(out_n, xp, w, b, s, g, relu, k);
    case 5: return forward_channels<5>(out_n, xp, w, b, s, g, relu, k);
    case 4: return forward_channels<4>(out_n, xp, w, b, s, g, relu, k);
    case 3: return forward_channels<3>(out_n, xp, w, b, s, g, relu, k);
    case 2: return forward_channels<2>(out_n, xp, w, b, s, g, relu, k);
    case 1: return forward_channels<1>(out_n, xp, w, b, s, g, relu, k);
    default: return;
  }
}

// One image's output: out_n (K, P, Q), six output channels at a time. A remainder of 1-3 channels
// shares the last six as two blocks of about half (K = 32: 6 x 4 + 4 + 4, not 6 x 5 + 2: a block of
// 2 channels has 4 accumulators, too few to hide the FMA latency).
void forward_image(float* out_n, const float* xp, const float* w, const float* b, const ConvShape& s, const Padded& g,
                   bool relu) {
  int64_t k = 0;
  for (; s.K - k >= 10; k += 6) forward_channels<6>(out_n, xp, w, b, s, g, relu, k);
  const int64_t left = s.K - k;  // 0-6 in one block, 7-9 split in two
  if (left > 6) {
    forward_block_of((left + 1) / 2, out_n, xp, w, b, s, g, relu, k);
    forward_block_of(left / 2, out_n, xp, w, b, s, g, relu, k + (left + 1) / 2);
  } else {
    forward_block_of(left, out_n, xp, w, b, s, g, relu, k);
  }
}

// Adds columns [q, q + kVec) of output rows p, p + 1 to the nine taps' accumulators (see below);
// `load` reads kVec columns (plainly, or masked at a row's ragged end).
template <class Load>
inline void weight_grad_row_pair(Vec (&acc)[9], const float* d_plane, const float* x_plane, int64_t Q, int64_t Wp,
                                 int64_t p, int64_t q, Load load) {
  const Vec d0 = load(d_plane + p * Q + q), d1 = load(d_plane + (p + 1) * Q + q);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t t = 0; t < 3; ++t) {
      Vec x = load(x_plane + (p + i) * Wp + q + t);
      keep_in_register(x);  // one load for both rows' FMAs
      if (i < 3) acc[i * 3 + t] = fmadd(d0, x, acc[i * 3 + t]);
      if (i > 0) acc[(i - 1) * 3 + t] = fmadd(d1, x, acc[(i - 1) * 3 + t]);
    }
}

// The same for output row p alone (an odd last row).
template <class Load>
inline void weight_grad_row(Vec (&acc)[9], const float* d_plane, const float* x_plane, int64_t Q, int64_t Wp,
                            int64_t p, int64_t q, Load load) {
  const Vec d = load(d_plane + p * Q + q);
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t t = 0; t < 3; ++t) acc[r * 3 + t] = fmadd(d, load(x_plane + (p + r) * Wp + q + t), acc[r * 3 + t]);
}

// v itself (8 lanes), or lanes j + (j + 8) of 16: a fixed order, half the scalar sums after it.
inline __m256 fold_to_8_lanes(__m256 v) { return v; }
#if TG_ISA_LEVEL >= 2
inline __m256 fold_to_8_lanes(__m512 v) {
  const __m512i high = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
  return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_castps512_ps256(_mm512_permutexvar_ps(high, v)));
}
#endif

// dst[i] = the lane sum of acc[i], i < 9: folded to 8 lanes, then lanes in order. AVX-512: taps
// 0..7 by one 8x8 transpose and seven vector adds (the same order), tap 8 alone; AVX2: one by one.
inline void store_tap_sums(float* dst, const Vec (&acc)[9]) {
  auto lane_sum = [](__m256 v) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, v);
    float sum = 0.f;
    for (float x : lanes) sum += x;
    return sum;
  };
  int64_t i = 0;
#if TG_ISA_LEVEL >= 2
  __m256 r[8];
  for (int64_t t = 0; t < 8; ++t) r[t] = fold_to_8_lanes(acc[t]);
  transpose8(r);  // r[j] = lane j of taps 0..7
  __m256 sums = r[0];
  for (int64_t j = 1; j < 8; ++j) sums = _mm256_add_ps(sums, r[j]);
  _mm256_storeu_ps(dst, sums);
  i = 8;
#endif
  for (; i < 9; ++i) dst[i] = lane_sum(fold_to_8_lanes(acc[i]));
}

// One image's weight gradient: dw_n (K, C, 3, 3) = sum_{p,q} dout_n[k,p,q] xp[c,p+r,q+s].
// Two output rows p, p + 1 at a time: input row p + i (i = 0..3) serves tap r = i of row p and tap
// r = i - 1 of row p + 1, so each shifted input vector is loaded once and feeds both rows' FMAs:
// 12 input + 2 dout loads per 18 FMAs, against 9 + 1 per 9 one row at a time. At a row's ragged
// end both operands are masked, so the lanes past Q add exactly 0.
void weight_grad_image(float* dw_n, const float* dout_n, const float* xp, const ConvShape& s, const Padded& g) {
  const int64_t P = s.P(), Q = s.Q(), full_end = Q / kVec * kVec;
  const VecMask tail = first_mask(Q - full_end);
  const auto plain = [](const float* src) { return load_vec(src); };
  const auto masked = [tail](const float* src) { return load_masked(src, tail); };
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t c = 0; c < s.C; ++c) {
      Vec acc[9];
      for (auto& a : acc) a = splat<Vec>(0.f);
      const float* d_plane = dout_n + k * P * Q;
      const float* x_plane = xp + c * g.Hp * g.Wp;
      int64_t p = 0;
      for (; p + 2 <= P; p += 2) {
        for (int64_t q = 0; q < full_end; q += kVec) weight_grad_row_pair(acc, d_plane, x_plane, Q, g.Wp, p, q, plain);
        if (full_end < Q) weight_grad_row_pair(acc, d_plane, x_plane, Q, g.Wp, p, full_end, masked);
      }
      if (p < P) {
        for (int64_t q = 0; q < full_end; q += kVec) weight_grad_row(acc, d_plane, x_plane, Q, g.Wp, p, q, plain);
        if (full_end < Q) weight_grad_row(acc, d_plane, x_plane, Q, g.Wp, p, full_end, masked);
      }
      store_tap_sums(dw_n + (k * s.C + c) * 9, acc);
    }
}

// ---- input gradient ----
//   din[n,c,y,x] = sum_k sum_{r,t} dout[n,k,y+pad_h-r,x+pad_w-t] w[k,c,r,t]
//                = sum_k sum_{r,t} dp[y+2-r][k][x+2-t] w[k,c,r,t]
// over the padded dout dp[i][k][j] = dout[n,k,i-(2-pad_h),j-(2-pad_w)] (zero outside): H + 2 rows i,
// each K channel rows of Wp columns, so din row y reads rows y..y+2 of every k. A register block is
// all C channels x V vectors of kVec columns: each dout load feeds C FMAs.

// Rows of Wp = round_up(W, kVec) + 8 columns: the last vector's taps at x + 2 - t + kVec - 1 stay
// inside (>= round_up(W, kVec) + 2), and pad_dout's 8-float copies end by ow + round_up(Q, 8) <= Wp
// (ow = 1 with Q = W, ow = 2 with Q = W - 2). AVX-512: ~8% less backward time (pad_dout) than with
// round_up(W, 16) + 16.
struct PaddedGrad {
  int64_t Hp, Wp;
};

PaddedGrad padded_grad_geometry(const ConvShape& s) { return {s.H + 2, (s.W + kVec - 1) / kVec * kVec + 8}; }

thread_local std::vector<float> t_dp;  // one padded dout image per thread, grown on demand and kept

// Fills the calling thread's dp from dout image d (K, P, Q) and returns it. dout is read in its own
// order, one sequential stream (padding each row just before the din rows that read it, K streams at
// once, measured ~40% slower overall, even with software prefetch).
const float* pad_dout(const float* d, const ConvShape& s, const PaddedGrad& g) {
  const int64_t P = s.P(), Q = s.Q(), oh = 2 - s.pad_h, ow = 2 - s.pad_w;
  const size_t size = static_cast<size_t>(g.Hp * s.K * g.Wp);
  float* dp = grow_aligned(t_dp, size);
  for (int64_t i = 0; i < g.Hp; ++i)  // the rows no dout row lands on
    if (i < oh || i >= oh + P) std::memset(dp + i * s.K * g.Wp, 0, sizeof(float) * s.K * g.Wp);
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t p = 0; p < P; ++p) {  // row[ow + j] = d[k, p, j] for j < Q, else 0
      float* row = dp + ((p + oh) * s.K + k) * g.Wp;
      const float* src = d + (k * P + p) * Q;
      // Zeros where the copy does not reach ([0, ow) and past its last vector) first, then the copy:
      // plain loads (masked ones all along measured ~1.8x slower from DRAM), a masked one for the last
      // lanes, which loads 0 past Q (ow + Q + 8 <= Wp).
      _mm256_storeu_ps(row, _mm256_setzero_ps());
      for (int64_t j = ow + (Q + 7) / 8 * 8; j < g.Wp; j += 8)
        _mm256_storeu_ps(row + std::min(j, g.Wp - 8), _mm256_setzero_ps());
      int64_t j = 0;
      for (; j + 8 <= Q; j += 8) _mm256_storeu_ps(row + ow + j, _mm256_loadu_ps(src + j));
      if (j < Q) _mm256_storeu_ps(row + ow + j, _mm256_maskload_ps(src + j, lane_mask(Q - j)));
    }
  return dp;
}

// din_n[c, y, x..x+kVec V) for all C channels (stores clipped to W). With fewer than 8 accumulators
// (C*V chains of FMAs, 4 cycles each, 2 issued per cycle) the channels k alternate between S = 2
// sets, added at the end: din = sum over even k + sum over odd k (16 + 16 columns of C = 3 measured
// 60 vs 48 GFLOP/s on one core, in cache).
template <int C, int V>
void input_grad_block(float* din_n, const float* dp, const float* w, const ConvShape& s, const PaddedGrad& g,
                      int64_t y, int64_t x) {
  constexpr int S = C * V < 8 && 2 * C * V + V + 1 <= 16 ? 2 : 1;  // the sets still fit the registers
  Vec acc[S][C][V];
  for (auto& set : acc)
    for (auto& a : set)
      for (auto& v : a) v = splat<Vec>(0.f);
  // a[c][v] += sum_{r,t} w[k,c,r,t] dp[y+2-r][k][x+2-t+8v..]
  auto add_channel = [&](int64_t k, Vec (&a)[C][V]) {
    const float* wk = w + k * C * 9;  // w[k] (C, 3, 3)
    for (int r = 0; r < 3; ++r) {
      const float* row = dp + ((y + 2 - r) * s.K + k) * g.Wp + x + 2;  // dp[y+2-r][k][x+2..]
      for (int t = 0; t < 3; ++t) {
        Vec d[V];  // dp[y+2-r][k][x+2-t+kVec v..], each used by C FMAs
        for (int v = 0; v < V; ++v) {
          d[v] = load_vec(row - t + kVec * v);
          // Kept in a register: GCC otherwise folds the load into each of the C FMAs (C loads per
          // vector instead of one): 27 vs 50 GFLOP/s measured on one Zen 3 core, C = V = 3, in cache.
          keep_in_register(d[v]);
        }
        for (int c = 0; c < C; ++c) {
          const Vec wv = splat<Vec>(wk[c * 9 + r * 3 + t]);
          for (int v = 0; v < V; ++v) a[c][v] = fmadd(wv, d[v], a[c][v]);
        }
      }
    }
  };
  int64_t k = 0;
  for (; k + S <= s.K; k += S)
    for (int j = 0; j < S; ++j) add_channel(k + j, acc[j]);
  for (; k < s.K; ++k) add_channel(k, acc[0]);
  for (int c = 0; c < C; ++c)
    for (int v = 0; v < V; ++v) {
      Vec sum = acc[0][c][v];
      for (int j = 1; j < S; ++j) sum = add(sum, acc[j][c][v]);
      store_row(din_n + (c * s.H + y) * s.W + x + kVec * v, sum, s.W - x - kVec * v, false);
    }
}

// A block of n <= V vectors (n >= 1).
template <int C, int V>
void input_grad_blocks(float* din_n, const float* dp, const float* w, const ConvShape& s, const PaddedGrad& g,
                       int64_t y, int64_t x, int64_t n) {
  if constexpr (V > 0) {
    if (n == V) return input_grad_block<C, V>(din_n, dp, w, s, g, y, x);
    input_grad_blocks<C, V - 1>(din_n, dp, w, s, g, y, x, n);
  }
}

// One image's input gradient: din_n (C, H, W) from its padded dout dp.
template <int C>
void input_grad_image(float* din_n, const float* dp, const float* w, const ConvShape& s, const PaddedGrad& g) {
  // Vectors per block: C*V <= 12 accumulators + V loaded vectors + 1 broadcast in the 16 registers.
  // A row of nv vectors is cut into blocks of V; when V + 1 are left they go as two halves (a last
  // block of 1 vector would use each broadcast once per channel and keep few FMAs in flight: 32
  // columns of C = 3 run as 16 + 16).
  constexpr int V = C == 1 ? 7 : C == 2 ? 4 : C == 3 ? 3 : 2;
  const int64_t nv = (s.W + kVec - 1) / kVec;
  for (int64_t y = 0; y < s.H; ++y) {
    int64_t v = 0;
    for (; nv - v > V + 1 || nv - v == V; v += V) input_grad_block<C, V>(din_n, dp, w, s, g, y, kVec * v);
    if (nv - v == V + 1) {  // V + 1 left: two blocks of about half
      const int64_t half = (V + 1) / 2;
      input_grad_blocks<C, V>(din_n, dp, w, s, g, y, kVec * v, half);
      v += half;
    }
    if (v < nv) input_grad_blocks<C, V>(din_n, dp, w, s, g, y, kVec * v, nv - v);
  }
}

}  // namespace

bool direct_applies(const ConvShape& s) {
  return s.algorithm == ConvAlgorithm::Auto && s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 &&
         s.groups == 1 && s.pad_h >= 0 && s.pad_h <= 1 && s.pad_w >= 0 && s.pad_w <= 1 && s.C >= 1 &&
         s.C <= kMaxChannels && s.P() >= 1 && s.Q() >= 1;
}

void direct_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s, bool relu) {
  const Padded g = padded_geometry(s);
  const int64_t in_size = s.C * s.H * s.W, out_size = s.K * s.P() * s.Q();
  // Images write disjoint outputs; dynamic scheduling keeps both cores busy when one is slowed down.
#pragma omp parallel for schedule(dynamic, 1) if (s.N > 1 && !omp_in_parallel())
  for (int64_t n = 0; n < s.N; ++n) {
    const float* xp = pad_image(in + n * in_size, s, g);
    forward_image(out + n * out_size, xp, w, b, s, g, relu);
  }
}

void direct_weight_grad(float* dw, const float* dout, const float* in, const ConvShape& s) {
  const Padded g = padded_geometry(s);
  const int64_t in_size = s.C * s.H * s.W, out_size = s.K * s.P() * s.Q(), wsize = s.K * s.C * 9;
  // (N, K, C, 3, 3), every value written by its image's pass; the calling thread's buffer, kept.
  thread_local std::vector<float> t_per_image;
  float* per_image = grow_aligned(t_per_image, static_cast<size_t>(s.N * wsize));
#pragma omp parallel for schedule(dynamic, 1) if (s.N > 1 && !omp_in_parallel())
  for (int64_t n = 0; n < s.N; ++n) {
    const float* xp = pad_image(in + n * in_size, s, g);
    weight_grad_image(per_image + n * wsize, dout + n * out_size, xp, s, g);
  }
  // dw = sum of the images' partials in image order, whatever the threads did.
  std::memcpy(dw, per_image, sizeof(float) * wsize);
  for (int64_t n = 1; n < s.N; ++n) {
    const float* part = per_image + n * wsize;
#pragma omp simd
    for (int64_t j = 0; j < wsize; ++j) dw[j] += part[j];
  }
}

void direct_input_grad(float* din, const float* dout, const float* w, const ConvShape& s) {
  const PaddedGrad g = padded_grad_geometry(s);
  const int64_t in_size = s.C * s.H * s.W, out_size = s.K * s.P() * s.Q();
  // Each image's din is summed by one thread in a fixed order: the same bits at any thread count.
#pragma omp parallel for schedule(dynamic, 1) if (s.N > 1 && !omp_in_parallel())
  for (int64_t n = 0; n < s.N; ++n) {
    const float* dp = pad_dout(dout + n * out_size, s, g);
    float* din_n = din + n * in_size;
    switch (s.C) {
      case 1: input_grad_image<1>(din_n, dp, w, s, g); break;
      case 2: input_grad_image<2>(din_n, dp, w, s, g); break;
      case 3: input_grad_image<3>(din_n, dp, w, s, g); break;
      default: input_grad_image<4>(din_n, dp, w, s, g); break;
    }
  }
}

#endif

}  // namespace tg::cpu::TG_ISA_NS
