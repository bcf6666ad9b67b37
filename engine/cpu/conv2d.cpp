// CPU conv2d as GEMM over column chunks of the im2col matrix, OpenMP over chunks / images.
// Columns of the (virtual) im2col matrix are j = n*PQ + p*Q + q; a chunk is a range of them that
// covers part of one image (large maps) or several whole images (small maps), sized so its column
// buffer stays near the L2 cache while the GEMM stays wide. Per chunk [j0, j1) and group g:
//   Forward:     out_g (Kg, J)  = W_g (Kg, CRSg) x col (CRSg, J)               (+ bias)
//   Weight grad: dW_g (Kg, CRSg) += dout_g (Kg, J) x col^T (J, CRSg)            (per-thread partials, reduced)
//   Input grad:  dcol (CRSg, J) = W_g^T (CRSg, Kg) x dout_g (Kg, J), then col2im (scatter-add) into din
// with col[(c*R + r)*S + sx][j] = in[n, g*Cg + c, p*sh - ph + r, q*sw - pw + sx] (0 outside the image).
// A 1x1 stride-1 unpadded conv reads the input in place (it IS a GEMM): no im2col. Every product
// is our packed sgemm (sgemm.h; gemm_bf16.h for ConvPrecision::Bf16), single-threaded inside: the
// threads split the chunks.
// 3x3 stride-1 convs with enough channels take the Winograd F(4x4, 3x3) path instead (winograd.h);
// those with 1-4 input channels (stems) run direct register-blocked loops (conv2d_direct.h) for the
// forward and both gradients.
#include "engine/cpu/conv2d.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/conv2d_direct.h"
#include "engine/cpu/gemm_bf16.h"
#include "engine/cpu/pool.h"
#include "engine/cpu/reference/conv2d.h"
#include "engine/cpu/scratch.h"
#include "engine/cpu/sgemm.h"
#include "engine/cpu/stride2_rows.h"
#include "engine/cpu/winograd.h"
#include "engine/cpu/eigen_core.h"
#include "engine/cpu/kernel_mode.h"
#include "engine/storage.h"

namespace tg::cpu {
namespace {

using Packet = Eigen::internal::packet_traits<float>::type;  // the widest SIMD register Eigen uses here
constexpr int64_t kLanes = sizeof(Packet) / sizeof(float);

constexpr int64_t kMinChunkCols = 256;          // GEMMs narrower than this lose speed
constexpr int64_t kColBudgetFloats = 96 * 1024;  // ~384 KiB column buffer: fits the L2 next to sgemm's packed A block

// Per-thread scratch, grown on demand and reused across calls: no allocation in steady state.
thread_local std::vector<float> t_col;   // (CRSg, J) im2col / dcol buffer of one chunk
thread_local std::vector<float> t_tmp;   // (K, J) forward result or gathered dout of a multi-image chunk
thread_local std::vector<float> t_dw;    // (threads - 1, K*CRSg) weight-grad partials (calling thread only)


// dst[0, n) = src[0, n) and dst[0, n) = 0 for the short rows of im2col (a few SIMD registers each):
// inlined packet loops, cheaper than a memcpy/memset call per row; a ragged end is covered by one
// last packet overlapping the previous one instead of a scalar tail.
inline void copy_row(float* dst, const float* src, int64_t n) {
  using namespace Eigen::internal;
  if (n < kLanes) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
    return;
  }
  for (int64_t i = 0; i + kLanes <= n; i += kLanes) pstoreu(dst + i, ploadu<Packet>(src + i));
  if (n % kLanes) pstoreu(dst + n - kLanes, ploadu<Packet>(src + n - kLanes));
}
inline void zero_row(float* dst, int64_t n) {
  using namespace Eigen::internal;
  if (n < kLanes) {
    for (int64_t i = 0; i < n; ++i) dst[i] = 0.f;
    return;
  }
  for (int64_t i = 0; i + kLanes <= n; i += kLanes) pstoreu(dst + i, pset1<Packet>(0.f));
  if (n % kLanes) pstoreu(dst + n - kLanes, pset1<Packet>(0.f));
}

bool is_pointwise(const ConvShape& s) {
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// 1x1, unpadded, strided (ResNet's downsampling shortcuts): each input pixel is read by at most one
// column, so the input gradient is a spread of dcol with zeros in between, written in one pass.
bool is_strided_pointwise(const ConvShape& s) {
  return s.R == 1 && s.S == 1 && s.pad_h == 0 && s.pad_w == 0 && (s.stride_h > 1 || s.stride_w > 1);
}

// How the N*PQ columns are cut. Units are what one thread owns in the backward (col2im of two chunks
// of one image may touch the same input pixels, so an image never spans two threads):
//   split > 1: unit = one image, cut into `split` chunks of `chunk_pq` columns;
//   split = 1: unit = chunk = `T` whole images (T > 1 only for maps too small to make a wide GEMM alone).
struct Plan {
  int64_t PQ = 1, T = 1, split = 1, chunk_pq = 1, units = 1;
  int64_t chunks() const { return units * split; }
  // Global column range of chunk i.
  void range(int64_t i, int64_t N, int64_t& j0, int64_t& j1) const {
    if (split > 1) {
      const int64_t n = i / split, part = i % split;
      j0 = n * PQ + part * chunk_pq;
      j1 = n * PQ + std::min(PQ, (part + 1) * chunk_pq);
    } else {
      j0 = i * T * PQ;
      j1 = std::min(N, (i + 1) * T) * PQ;
    }
  }
};

Plan make_plan(const ConvShape& s, int threads) {
  Plan pl;
  pl.PQ = s.P() * s.Q();
  const int64_t crs = (s.C / s.groups) * s.R * s.S;
  const int64_t target = std::max(kMinChunkCols, kColBudgetFloats / std::max<int64_t>(crs, 1));
  if (pl.PQ > target) {
    pl.split = (pl.PQ + target - 1) / target;
    pl.chunk_pq = (pl.PQ + pl.split - 1) / pl.split;
    pl.units = s.N;
    return pl;
  }
  // One image per chunk when it is wide enough: its slices of in/out/dout are used in place (no copies).
  pl.T = pl.PQ >= kMinChunkCols ? 1 : std::clamp<int64_t>(target / pl.PQ, 1, s.N);
  pl.units = (s.N + pl.T - 1) / pl.T;
  if (pl.T > 1 && threads > 1 && pl.units < 4 * threads && s.N >= threads) {
    // Few units: shrink them so every thread gets the same number (no thread idles at the end).
    const int64_t want = (pl.units + threads - 1) / threads * threads;
    pl.T = (s.N + want - 1) / want;
    pl.units = (s.N + pl.T - 1) / pl.T;
  }
  return pl;
}

// One output-row piece of a chunk: image n, output row p, columns q in [qa, qb), at chunk column col.
struct Segment {
  int64_t n, p, qa, qb, col;
};
thread_local std::vector<Segment> t_segs;

const std::vector<Segment>& segments(int64_t j0, int64_t j1, int64_t PQ, int64_t Q) {
  std::vector<Segment>& segs = t_segs;
  segs.clear();
  for (int64_t j = j0; j < j1;) {
    const int64_t n = j / PQ, pq = j % PQ, p = pq / Q, q = pq % Q;
    const int64_t len = std::min(Q - q, j1 - j);
    segs.push_back({n, p, q, q + len, j - j0});
    j += len;
  }
  return segs;
}

// Valid output columns [q_lo, q_hi) for kernel column sx: those with 0 <= q*sw - pw + sx < W.
void valid_q(const ConvShape& s, int64_t sx, int64_t& q_lo, int64_t& q_hi) {
  const int64_t Q = s.Q(), off = s.pad_w - sx;  // w = q*sw - off
  q_lo = std::min(off > 0 ? (off + s.stride_w - 1) / s.stride_w : 0, Q);
  q_hi = std::clamp(s.W - 1 + off >= 0 ? (s.W - 1 + off) / s.stride_w + 1 : 0, q_lo, Q);
}

// col (CRSg, J) for the chunk's segments; in_g points at channel g*Cg of image 0 (images CHW apart).
void im2col(float* col, int64_t J, const std::vector<Segment>& segs, const float* in_g, int64_t Cg, int64_t CHW,
            const ConvShape& s) {
  const int64_t HW = s.H * s.W;
  // A 1x1 conv with a vertical stride reads every sh-th row of each channel: with 128-byte rows on
  // 64-byte aligned maps (ResNet's 64->128 shortcut at 32x32) the hardware prefetcher did not follow
  // that gapped stream, and the forward and weight grad ran ~1.3x slower than with the same maps
  // 16 bytes off alignment. Prefetching the skipped rows too makes the stream contiguous again
  // (more bytes from DRAM, but streamed): aligned maps then ran as fast as the unaligned ones.
  const bool touch_skipped = s.R == 1 && s.stride_h > 1;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t sx = 0; sx < s.S; ++sx) {
        int64_t q_lo, q_hi;
        valid_q(s, sx, q_lo, q_hi);
        float* row = col + ((c * s.R + r) * s.S + sx) * J;
        for (const Segment& g : segs) {
          float* dst = row + g.col - g.qa;  // dst[q], q in [qa, qb)
          const int64_t h = g.p * s.stride_h - s.pad_h + r;
          if (h < 0 || h >= s.H) {
            zero_row(dst + g.qa, g.qb - g.qa);
            continue;
          }
          const int64_t a = std::clamp(q_lo, g.qa, g.qb), b = std::clamp(q_hi, a, g.qb);
          const float* src = in_g + g.n * CHW + c * HW + h * s.W - s.pad_w + sx;  // src[q*sw] = in[h, q*sw-pw+sx]
          if (touch_skipped)  // rows h + 1 .. h + sh - 1 (see the comment on touch_skipped)
            for (int64_t dh = 1; dh < s.stride_h && h + dh < s.H; ++dh)
              for (int64_t x = 0; x < s.W; x += 16) __builtin_prefetch(src + dh * s.W + x);
          for (int64_t q = g.qa; q < a; ++q) dst[q] = 0.f;
          if (s.stride_w == 1) {
            copy_row(dst + a, src + a, b - a);
          } else if (s.stride_w == 2) {  // src[2a] is pixel 2a - pw + sx of its row
            gather_stride2(dst + a, src + 2 * a, b - a, s.W - (2 * a - s.pad_w + sx));
          } else {
            for (int64_t q = a; q < b; ++q) dst[q] = src[q * s.stride_w];
          }
          for (int64_t q = b; q < g.qb; ++q) dst[q] = 0.f;
        }
      }
}

// Adjoint of im2col: din[n, c, h, w] += dcol[...] for every column that read (h, w). Adds into din_g.
void col2im(float* din_g, const float* dcol, int64_t J, const std::vector<Segment>& segs, int64_t Cg, int64_t CHW,
            const ConvShape& s) {
  const int64_t HW = s.H * s.W;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t sx = 0; sx < s.S; ++sx) {
        int64_t q_lo, q_hi;
        valid_q(s, sx, q_lo, q_hi);
        const float* row = dcol + ((c * s.R + r) * s.S + sx) * J;
        for (const Segment& g : segs) {
          const int64_t h = g.p * s.stride_h - s.pad_h + r;
          if (h < 0 || h >= s.H) continue;
          const int64_t a = std::clamp(q_lo, g.qa, g.qb), b = std::clamp(q_hi, a, g.qb);
          const float* src = row + g.col - g.qa;
          float* dst = din_g + g.n * CHW + c * HW + h * s.W - s.pad_w + sx;
          if (s.stride_w == 1) {
#pragma omp simd
            for (int64_t q = a; q < b; ++q) dst[q] += src[q];
          } else if (s.stride_w == 2) {
            scatter_add_stride2(dst + 2 * a, src + a, b - a, s.W - (2 * a - s.pad_w + sx));
          } else {
            for (int64_t q = a; q < b; ++q) dst[q * s.stride_w] += src[q];
          }
        }
      }
}

// Input grad of a strided 1x1 conv on whole images [n0, n1), overwriting din_g (no memset, no
// read-modify-write): din[n, c, h, w] = dcol[c, (n - n0)*PQ + (h/sh)*Q + w/sw] where sh | h and
// sw | w (every such pixel was read, as P = (H-1)/sh + 1), else 0. dcol is (Cg, J).
void spread_pointwise(float* din_g, const float* dcol, int64_t J, int64_t n0, int64_t n1, int64_t Cg, int64_t CHW,
                      const ConvShape& s) {
  const int64_t HW = s.H * s.W, Q = s.Q(), PQ = s.P() * Q;
  for (int64_t n = n0; n < n1; ++n)  // din written front to back
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t h = 0; h < s.H; ++h) {
        float* dst = din_g + n * CHW + c * HW + h * s.W;
        const float* src = dcol + c * J + (n - n0) * PQ + (h / s.stride_h) * Q;
        if (h % s.stride_h != 0) {
          zero_row(dst, s.W);
        } else if (s.stride_w == 2) {
          spread_stride2(dst, src, s.W);
        } else {
          for (int64_t w = 0; w < s.W; ++w) dst[w] = w % s.stride_w == 0 ? src[w / s.stride_w] : 0.f;
        }
      }
}

// C = alpha op(A) op(B) + beta C in the conv's precision: sgemm, or the bf16 GEMM
// (ConvPrecision::Bf16, gemm_bf16.h).
void conv_gemm(const ConvShape& s, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (s.precision == ConvPrecision::Bf16) {
    gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  } else {
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
}

// The weights of each group as the chunks' GEMMs take them: op(W_g) = W_g (Kg, CRSg) for the
// forward or W_g^T for the input gradient, packed once per call in the GEMM's layout (sgemm_pack_a,
// or gemm_bf16_pack_planes with bf16), so the chunks do not pack (and round) the same weights again.
struct GroupWeights {
  const float* packed;  // one packed op(W_g) per group, PS floats apart; null when not wanted
  int64_t PS;
  bool transposed;
};

thread_local std::vector<float> t_w_packed;  // (calling thread only, read by the team)

GroupWeights group_weights(const float* w, const ConvShape& s, bool transposed, int threads) {
  GroupWeights gw{nullptr, 0, transposed};
  if (w == nullptr) return gw;
  const int64_t Kg = s.K / s.groups, crs = (s.C / s.groups) * s.R * s.S;
  const int64_t M = transposed ? crs : Kg, K = transposed ? Kg : crs;
  if (s.precision == ConvPrecision::Bf16) {
    gw.packed = gemm_bf16_pack_planes(t_w_packed, s.groups, transposed, M, K, w, crs, Kg * crs, &gw.PS, threads);
    return gw;
  }
  gw.PS = (sgemm_packed_a_floats(M, K) + 15) / 16 * 16;  // each group's 64-byte aligned
  float* packed = grow_aligned(t_w_packed, static_cast<size_t>(s.groups * gw.PS));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && s.groups > 1 && M * K >= 4096)
  for (int64_t g = 0; g < s.groups; ++g) sgemm_pack_a(packed + g * gw.PS, transposed, M, K, w + g * Kg * crs, crs);
  gw.packed = packed;
  return gw;
}

// C (rows of op(W_g), N) = op(W_g) x B (N columns, rows ldb apart) + beta C, in the conv's precision.
void weight_gemm(const GroupWeights& gw, const ConvShape& s, int64_t g, int64_t N, const float* B, int64_t ldb,
                 float beta, float* C, int64_t ldc) {
  const int64_t Kg = s.K / s.groups, crs = (s.C / s.groups) * s.R * s.S;
  const int64_t M = gw.transposed ? crs : Kg, K = gw.transposed ? Kg : crs;
  if (s.precision == ConvPrecision::Bf16) {
    gemm_bf16_packed(gw.packed + g * gw.PS, M, K, false, N, 1.f, B, ldb, beta, C, ldc);
  } else {
    sgemm_packed(gw.packed + g * gw.PS, M, K, false, N, 1.f, B, ldb, beta, C, ldc);
  }
}

// Forward of chunk [j0, j1).
void forward_chunk(float* out, const float* in, const GroupWeights& W, const float* b, const ConvShape& s,
                   ConvEpilogue epi, int64_t j0, int64_t j1) {
  const bool relu = epi == ConvEpilogue::Relu;
  const int64_t Cg = s.C / s.groups, Kg = s.K / s.groups, crs = Cg * s.R * s.S;
  const int64_t PQ = s.P() * s.Q(), HW = s.H * s.W, CHW = s.C * HW, J = j1 - j0;
  const int64_t n = j0 / PQ, pq0 = j0 - n * PQ;
  const bool single = (j1 - 1) / PQ == n;  // the chunk lies inside image n
  const bool direct = single && is_pointwise(s);
  const std::vector<Segment>* segs = direct ? nullptr : &segments(j0, j1, PQ, s.Q());
  float* col = direct ? nullptr : grow_aligned(t_col, static_cast<size_t>(crs * J));
  float* tmp = single ? nullptr : grow_aligned(t_tmp, static_cast<size_t>(Kg * J));
  for (int64_t g = 0; g < s.groups; ++g) {
    // y (Kg, J), rows ldy apart, = beta y + W_g x col  (col: the input itself for a pointwise conv)
    auto gemm_into = [&](float* y, int64_t ldy, float beta) {
      if (direct) {
        weight_gemm(W, s, g, J, in + n * CHW + g * Cg * HW + pq0, HW, beta, y, ldy);
      } else {
        im2col(col, J, *segs, in + g * Cg * HW, Cg, CHW, s);
        weight_gemm(W, s, g, J, col, J, beta, y, ldy);
      }
    };
    if (single) {
      float* y = out + n * s.K * PQ + g * Kg * PQ + pq0;  // (Kg, J) slice of out[n], rows PQ apart
      for (int64_t k = 0; k < Kg; ++k) std::fill(y + k * PQ, y + k * PQ + J, b ? b[g * Kg + k] : 0.f);  // bias first
      gemm_into(y, PQ, 1.f);
      if (relu) {
        for (int64_t k = 0; k < Kg; ++k) {  // the chunk's outputs are still in cache
          float* row = y + k * PQ;
#pragma omp simd
          for (int64_t i = 0; i < J; ++i) row[i] = row[i] > 0.f ? row[i] : 0.f;
        }
      }
    } else {
      // Bias first here too: tmp = b, then tmp += W_g x col, so every output is summed as
      // ((b + slice_1) + slice_2) + ... exactly as in the single-image branch above. (Adding the bias
      // after the GEMM rounded (slice_1 + slice_2) + b instead: for more than one K slice of sgemm,
      // crs > 256, an output's last bits then depended on whether its image shared a chunk, i.e. on
      // the thread count and on the batch it came in.)
      for (int64_t k = 0; k < Kg; ++k) std::fill(tmp + k * J, tmp + (k + 1) * J, b ? b[g * Kg + k] : 0.f);
      gemm_into(tmp, J, 1.f);
      for (int64_t j = j0; j < j1; j += PQ) {  // whole images: (Kg, T, PQ) -> out[j/PQ, g*Kg + k, :]
        for (int64_t k = 0; k < Kg; ++k) {
          float* dst = out + (j / PQ) * s.K * PQ + (g * Kg + k) * PQ;
          const float* src = tmp + k * J + (j - j0);
#pragma omp simd
          for (int64_t i = 0; i < PQ; ++i) dst[i] = relu && !(src[i] > 0.f) ? 0.f : src[i];  // relu(v) = v > 0 ? v : 0
        }
      }
    }
  }
}

// Backward of chunk [j0, j1): dw_acc (K, CRSg) += its weight grad; din receives its input grad, added
// into din zeroed by the caller, or written over it where `din_overwritten` (a pointwise conv on a
// single-image chunk, or a strided 1x1 conv on whole images).
void backward_chunk(float* din, float* dw_acc, const float* dout, const float* in, const GroupWeights& Wt,
                    const ConvShape& s, bool din_overwritten, int64_t j0, int64_t j1) {
  const int64_t Cg = s.C / s.groups, Kg = s.K / s.groups, crs = Cg * s.R * s.S;
  const int64_t PQ = s.P() * s.Q(), HW = s.H * s.W, CHW = s.C * HW, J = j1 - j0;
  const int64_t n = j0 / PQ, pq0 = j0 - n * PQ;
  const bool single = (j1 - 1) / PQ == n;
  const bool direct = single && is_pointwise(s);
  const std::vector<Segment>* segs = direct ? nullptr : &segments(j0, j1, PQ, s.Q());
  float* col = direct ? nullptr : grow_aligned(t_col, static_cast<size_t>(crs * J));
  // dO (K, J) with rows ld apart: a slice of dout[n] for one image, else gathered from whole images.
  const float* dO = dout + n * s.K * PQ + pq0;
  int64_t ld = PQ;
  if (!single) {
    float* gathered = grow_aligned(t_tmp, static_cast<size_t>(s.K * J));
    for (int64_t j = j0; j < j1; j += PQ)
      for (int64_t k = 0; k < s.K; ++k)
        std::memcpy(gathered + k * J + (j - j0), dout + ((j / PQ) * s.K + k) * PQ, sizeof(float) * PQ);
    dO = gathered;
    ld = J;
  }
  for (int64_t g = 0; g < s.groups; ++g) {
    const float* dOg = dO + g * Kg * ld;  // (Kg, J), rows ld apart
    const float* in_g = in + g * Cg * HW;
    if (dw_acc) {
      float* dwg = dw_acc + g * Kg * crs;  // dW_g (Kg, CRSg) += dO_g x col^T
      if (direct) {
        conv_gemm(s, false, true, Kg, crs, J, 1.f, dOg, ld, in_g + n * CHW + pq0, HW, 1.f, dwg, crs);
      } else {
        im2col(col, J, *segs, in_g, Cg, CHW, s);
        conv_gemm(s, false, true, Kg, crs, J, 1.f, dOg, ld, col, J, 1.f, dwg, crs);
      }
    }
    if (din) {
      // dcol (CRSg, J) = W_g^T x dO_g
      float* din_g = din + g * Cg * HW;
      if (direct) {
        weight_gemm(Wt, s, g, J, dOg, ld, 0.f, din_g + n * CHW + pq0, HW);
      } else {
        weight_gemm(Wt, s, g, J, dOg, ld, 0.f, col, J);
        if (din_overwritten) {
          spread_pointwise(din_g, col, J, j0 / PQ, j1 / PQ, Cg, CHW, s);
        } else {
          col2im(din_g, col, J, *segs, Cg, CHW, s);
        }
      }
    }
  }
}

}  // namespace

void conv2d_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s,
                    ConvEpilogue epi) {
  if (reference_kernels()) return reference::conv2d_forward(out, in, w, b, s, epi);
  if (winograd_applies(s)) return winograd_forward(out, in, w, b, s, epi);
  if (epi == ConvEpilogue::ReluMaxPool2x2) {  // relu(conv) into scratch, then the values-only pool
    const Storage full(static_cast<size_t>(s.N * s.K * s.P() * s.Q()) * sizeof(float), Device::cpu());
    float* map = static_cast<float*>(full.data());  // uninitialised, from the host block cache
    conv2d_forward(map, in, w, b, s, ConvEpilogue::Relu);
    max_pool2d_forward(out, nullptr, map, PoolShape{s.N, s.K, s.P(), s.Q(), 2, 2, 2, 2, 0, 0});
    return;
  }
  if (direct_applies(s)) return direct_forward(out, in, w, b, s, epi == ConvEpilogue::Relu);  // 1-4 channels
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const Plan pl = make_plan(s, threads);
  // Chunks write disjoint outputs: run them in parallel, each with our single-threaded sgemm inside,
  // unless there are fewer chunks than threads (then they run one after another on this thread).
  // Dynamic scheduling keeps both cores busy when one is slowed down; each chunk's result does not
  // depend on which thread computes it, so the output stays deterministic.
  const int64_t chunks = pl.chunks();
  const GroupWeights W = group_weights(w, s, /*transposed=*/false, threads);
#pragma omp parallel for schedule(dynamic, 1) if (threads > 1 && chunks >= threads)
  for (int64_t i = 0; i < chunks; ++i) {
    int64_t j0, j1;
    pl.range(i, s.N, j0, j1);
    forward_chunk(out, in, W, b, s, epi, j0, j1);
  }
}

void conv2d_backward(float* din, float* dw, float* db, const float* dout, const float* in, const float* w,
                     const ConvShape& s) {
  if (reference_kernels()) return reference::conv2d_backward(din, dw, db, dout, in, w, s);
  const int64_t PQ = s.P() * s.Q();
  if (db) {
    // db[k] = sum_{n, p, q} dout[n, k, p, q]
#pragma omp parallel for schedule(static) if (s.K * s.N * PQ > 32768)
    for (int64_t k = 0; k < s.K; ++k) {
      double acc = 0.0;
      for (int64_t n = 0; n < s.N; ++n) {
        const float* row = dout + (n * s.K + k) * PQ;
        float part = 0.f;
#pragma omp simd reduction(+ : part)
        for (int64_t i = 0; i < PQ; ++i) part += row[i];
        acc += part;
      }
      db[k] = static_cast<float>(acc);
    }
  }
  if (!din && !dw) return;
  if (winograd_applies(s)) return winograd_backward(din, dw, dout, in, w, s);
  if (direct_applies(s)) {  // 1-4 input channels: both gradients by direct loops
    if (dw) direct_weight_grad(dw, dout, in, s);
    if (din) direct_input_grad(din, dout, w, s);
    return;
  }
  const int64_t wsize = s.K * (s.C / s.groups) * s.R * s.S;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const Plan pl = make_plan(s, threads);
  // Chunks write din over (no zeroing) for pointwise convs on one image per chunk, and for strided 1x1
  // convs when chunks are whole images (split == 1); the rest add into din, zeroed per unit first.
  const bool din_overwritten = (is_pointwise(s) && pl.T == 1) || (is_strided_pointwise(s) && pl.split == 1);
  const bool zero_din = din && !din_overwritten;
  const GroupWeights Wt = group_weights(din ? w : nullptr, s, /*transposed=*/true, threads);
  // A unit's chunks run in order on one thread, so col2im never races on shared input pixels.
  auto run_unit = [&](int64_t u, float* acc) {
    if (zero_din) {
      const int64_t n0 = pl.split > 1 ? u : u * pl.T, n1 = pl.split > 1 ? u + 1 : std::min(s.N, n0 + pl.T);
      std::memset(din + n0 * s.C * s.H * s.W, 0, sizeof(float) * (n1 - n0) * s.C * s.H * s.W);
    }
    for (int64_t i = u * pl.split; i < (u + 1) * pl.split; ++i) {
      int64_t j0, j1;
      pl.range(i, s.N, j0, j1);
      backward_chunk(din, acc, dout, in, Wt, s, din_overwritten, j0, j1);
    }
  };
  if (dw) std::memset(dw, 0, sizeof(float) * wsize);
  if (threads == 1 || pl.units < threads) {
    for (int64_t u = 0; u < pl.units; ++u) run_unit(u, dw);
    return;
  }
  // Thread 0 accumulates straight into dw, the others into their own partial buffers, reduced after.
  float* partials = dw ? grow_aligned(t_dw, static_cast<size_t>((threads - 1) * wsize)) : nullptr;
#pragma omp parallel num_threads(threads)
  {
    const int tid = omp_get_thread_num();
    float* acc = nullptr;
    if (dw) {
      acc = tid == 0 ? dw : partials + (tid - 1) * wsize;
      if (tid != 0) std::memset(acc, 0, sizeof(float) * wsize);
    }
#pragma omp for schedule(static)
    for (int64_t u = 0; u < pl.units; ++u) run_unit(u, acc);
    if (dw) {  // the implicit barrier above: every partial is complete
      const int team = omp_get_num_threads();
#pragma omp for schedule(static)
      for (int64_t j = 0; j < wsize; ++j) {
        float sum = dw[j];
        for (int t = 1; t < team; ++t) sum += partials[(t - 1) * wsize + j];
        dw[j] = sum;
      }
    }
  }
}

}  // namespace tg::cpu
