// CPU conv2d: im2col over a tile of images + one Eigen GEMM per (tile, group), OpenMP over tiles.
// Forward:     out_g (Kg, T*PQ)  = W_g (Kg, CRSg) x col (CRSg, T*PQ)           (+ bias)
// Weight grad: dW_g (Kg, CRSg)  += dout_g (Kg, T*PQ) x col^T (T*PQ, CRSg)      (per-thread partials, reduced)
// Input grad:  dcol (CRSg, T*PQ) = W_g^T (CRSg, Kg) x dout_g (Kg, T*PQ), then col2im (scatter-add) into din.
// A tile of T images makes the GEMM wide enough to run at full speed on small feature maps (4x4, 8x8)
// while its column buffer stays a few MiB; 1x1 stride-1 unpadded convs on one image skip im2col.
#include "engine/cpu/conv2d.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <vector>

namespace tg::cpu {
namespace {

using MatRM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapRM = Eigen::Map<MatRM>;
using CMapRM = Eigen::Map<const MatRM>;

constexpr int64_t kMinGemmCols = 256;               // aim for at least this many GEMM columns per tile
constexpr int64_t kMaxColFloats = (4 << 20) / 4;    // ... without the column buffer exceeding ~4 MiB

// Per-thread scratch, grown on demand and reused across calls: no allocation in steady state.
thread_local std::vector<float> t_col;   // (CRSg, T*PQ) im2col / dcol buffer
thread_local std::vector<float> t_gemm;  // (K, T*PQ) forward result or gathered dout of a tile
thread_local std::vector<float> t_dw;    // (threads-1, K*CRSg) weight-grad partials (calling thread only)

float* grow(std::vector<float>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// How the batch is cut into tiles of T images, and whether tiles run in parallel (Eigen then runs
// single-threaded inside each: it never nests inside an active OpenMP team) or one after the other
// (then Eigen's own threads split each GEMM). One OpenMP pool either way.
struct TilePlan {
  int64_t T = 1, ntiles = 1;
  bool parallel = false;
};

TilePlan plan_tiles(const ConvShape& s) {
  const int64_t PQ = s.P() * s.Q();
  const int64_t crs = (s.C / s.groups) * s.R * s.S;
  TilePlan t;
  t.T = std::clamp<int64_t>((kMinGemmCols + PQ - 1) / PQ, 1, s.N);
  t.T = std::max<int64_t>(1, std::min<int64_t>(t.T, kMaxColFloats / std::max<int64_t>(1, crs * PQ)));
  t.ntiles = (s.N + t.T - 1) / t.T;
  const int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads > 1 && t.ntiles >= threads) {
    // Round the tile count up to a multiple of the thread count so no thread idles at the end.
    const int64_t nt = (t.ntiles + threads - 1) / threads * threads;
    t.T = (s.N + nt - 1) / nt;
    t.ntiles = (s.N + t.T - 1) / t.T;
    t.parallel = true;
  }
  return t;
}

bool is_pointwise(const ConvShape& s) {
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// Valid output columns [q_lo, q_hi) for kernel column `sx`: those with 0 <= q*sw - pw + sx < W.
void valid_q(const ConvShape& s, int64_t sx, int64_t Q, int64_t& q_lo, int64_t& q_hi) {
  const int64_t off = s.pad_w - sx;  // w = q*sw - off
  q_lo = off > 0 ? (off + s.stride_w - 1) / s.stride_w : 0;
  q_hi = (s.W - 1 + off) >= 0 ? (s.W - 1 + off) / s.stride_w + 1 : 0;
  q_lo = std::min(q_lo, Q);
  q_hi = std::clamp(q_hi, q_lo, Q);
}

// col[(c*R + r)*S + sx][t*PQ + p*Q + q] = in[t, c, p*sh - ph + r, q*sw - pw + sx]  (0 outside the image)
// in points at channel 0 of the group in image 0 of the tile; images are img_stride apart.
void im2col_tile(float* col, const float* in, int64_t T, int64_t Cg, int64_t img_stride, const ConvShape& s) {
  const int64_t P = s.P(), Q = s.Q(), PQ = P * Q, HW = s.H * s.W, ld = T * PQ;
  for (int64_t c = 0; c < Cg; ++c) {
    for (int64_t r = 0; r < s.R; ++r) {
      for (int64_t sx = 0; sx < s.S; ++sx) {
        int64_t q_lo, q_hi;
        valid_q(s, sx, Q, q_lo, q_hi);
        float* row = col + ((c * s.R + r) * s.S + sx) * ld;
        for (int64_t t = 0; t < T; ++t) {
          const float* plane = in + t * img_stride + c * HW;  // (H, W)
          for (int64_t p = 0; p < P; ++p) {
            float* dst = row + t * PQ + p * Q;
            const int64_t h = p * s.stride_h - s.pad_h + r;
            if (h < 0 || h >= s.H) {
              std::memset(dst, 0, sizeof(float) * Q);
              continue;
            }
            const float* src = plane + h * s.W - s.pad_w + sx;  // src[q*sw] = in[h, q*sw - pw + sx]
            for (int64_t q = 0; q < q_lo; ++q) dst[q] = 0.f;
            if (s.stride_w == 1) {
              std::memcpy(dst + q_lo, src + q_lo, sizeof(float) * (q_hi - q_lo));
            } else {
              for (int64_t q = q_lo; q < q_hi; ++q) dst[q] = src[q * s.stride_w];
            }
            for (int64_t q = q_hi; q < Q; ++q) dst[q] = 0.f;
          }
        }
      }
    }
  }
}

// Adjoint of im2col_tile: din[t, c, h, w] += dcol[...] for every column that read (h, w).
// din must be zeroed by the caller; it points like `in` above.
void col2im_tile(float* din, const float* dcol, int64_t T, int64_t Cg, int64_t img_stride, const ConvShape& s) {
  const int64_t P = s.P(), Q = s.Q(), PQ = P * Q, HW = s.H * s.W, ld = T * PQ;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t c = 0; c < Cg; ++c) {
      float* plane = din + t * img_stride + c * HW;  // (H, W)
      for (int64_t r = 0; r < s.R; ++r) {
        for (int64_t sx = 0; sx < s.S; ++sx) {
          int64_t q_lo, q_hi;
          valid_q(s, sx, Q, q_lo, q_hi);
          const float* row = dcol + ((c * s.R + r) * s.S + sx) * ld + t * PQ;
          for (int64_t p = 0; p < P; ++p) {
            const int64_t h = p * s.stride_h - s.pad_h + r;
            if (h < 0 || h >= s.H) continue;
            float* dst = plane + h * s.W - s.pad_w + sx;
            const float* src = row + p * Q;
            if (s.stride_w == 1) {
#pragma omp simd
              for (int64_t q = q_lo; q < q_hi; ++q) dst[q] += src[q];
            } else {
              for (int64_t q = q_lo; q < q_hi; ++q) dst[q * s.stride_w] += src[q];
            }
          }
        }
      }
    }
  }
}

// Forward of images [n0, n0 + T).
void forward_tile(float* out, const float* in, const float* w, const float* b, const ConvShape& s, int64_t n0,
                  int64_t T) {
  const int64_t Cg = s.C / s.groups, Kg = s.K / s.groups, crs = Cg * s.R * s.S;
  const int64_t PQ = s.P() * s.Q(), CHW = s.C * s.H * s.W, cols = T * PQ;
  const bool direct = T == 1 && is_pointwise(s);
  float* col = direct ? nullptr : grow(t_col, static_cast<size_t>(crs * cols));
  float* tmp = T == 1 ? nullptr : grow(t_gemm, static_cast<size_t>(Kg * cols));
  for (int64_t g = 0; g < s.groups; ++g) {
    const float* in_g = in + n0 * CHW + g * Cg * s.H * s.W;
    CMapRM wg(w + g * Kg * crs, Kg, crs);  // (Kg, CRSg)
    const float* bmat = in_g;              // (CRSg, cols): the input itself for a pointwise conv
    if (!direct) {
      im2col_tile(col, in_g, T, Cg, CHW, s);
      bmat = col;
    }
    CMapRM B(bmat, crs, cols);
    if (T == 1) {
      MapRM y(out + n0 * s.K * PQ + g * Kg * PQ, Kg, PQ);  // (Kg, PQ) slice of out[n0]
      if (b) {
        for (int64_t k = 0; k < Kg; ++k) y.row(k).setConstant(b[g * Kg + k]);
        y.noalias() += wg * B;
      } else {
        y.noalias() = wg * B;
      }
    } else {
      MapRM y(tmp, Kg, cols);
      y.noalias() = wg * B;
      for (int64_t t = 0; t < T; ++t) {  // scatter (Kg, T, PQ) -> out[n0 + t, g*Kg + k, :], adding bias
        for (int64_t k = 0; k < Kg; ++k) {
          float* dst = out + (n0 + t) * s.K * PQ + (g * Kg + k) * PQ;
          const float* src = tmp + k * cols + t * PQ;
          const float bias = b ? b[g * Kg + k] : 0.f;
#pragma omp simd
          for (int64_t i = 0; i < PQ; ++i) dst[i] = src[i] + bias;
        }
      }
    }
  }
}

// Backward of images [n0, n0 + T): dw_acc (K, CRSg) += this tile's weight grad; din tile overwritten.
void backward_tile(float* din, float* dw_acc, const float* dout, const float* in, const float* w, const ConvShape& s,
                   int64_t n0, int64_t T) {
  const int64_t Cg = s.C / s.groups, Kg = s.K / s.groups, crs = Cg * s.R * s.S;
  const int64_t PQ = s.P() * s.Q(), CHW = s.C * s.H * s.W, cols = T * PQ;
  const bool direct = T == 1 && is_pointwise(s);
  float* col = direct ? nullptr : grow(t_col, static_cast<size_t>(crs * cols));
  // dO (K, T*PQ): for one image the slice of dout itself, otherwise gathered from (T, K, PQ).
  const float* dO = dout + n0 * s.K * PQ;
  if (T > 1) {
    float* gathered = grow(t_gemm, static_cast<size_t>(s.K * cols));
    for (int64_t k = 0; k < s.K; ++k)
      for (int64_t t = 0; t < T; ++t)
        std::memcpy(gathered + k * cols + t * PQ, dout + (n0 + t) * s.K * PQ + k * PQ, sizeof(float) * PQ);
    dO = gathered;
  }
  if (din && !direct) std::memset(din + n0 * CHW, 0, sizeof(float) * T * CHW);
  for (int64_t g = 0; g < s.groups; ++g) {
    const float* in_g = in + n0 * CHW + g * Cg * s.H * s.W;
    CMapRM dOg(dO + g * Kg * cols, Kg, cols);  // (Kg, T*PQ)
    if (dw_acc) {
      const float* bmat = in_g;
      if (!direct) {
        im2col_tile(col, in_g, T, Cg, CHW, s);
        bmat = col;
      }
      MapRM dwg(dw_acc + g * Kg * crs, Kg, crs);
      dwg.noalias() += dOg * CMapRM(bmat, crs, cols).transpose();
    }
    if (din) {
      CMapRM wg(w + g * Kg * crs, Kg, crs);
      float* din_g = din + n0 * CHW + g * Cg * s.H * s.W;
      if (direct) {
        MapRM(din_g, Cg, PQ).noalias() = wg.transpose() * dOg;
      } else {
        MapRM dcol(col, crs, cols);
        dcol.noalias() = wg.transpose() * dOg;
        col2im_tile(din_g, col, T, Cg, CHW, s);
      }
    }
  }
}

}  // namespace

void conv2d_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s) {
  const TilePlan plan = plan_tiles(s);
  if (plan.parallel) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < plan.ntiles; ++i) {
      const int64_t n0 = i * plan.T;
      forward_tile(out, in, w, b, s, n0, std::min(plan.T, s.N - n0));
    }
  } else {
    for (int64_t i = 0; i < plan.ntiles; ++i) {
      const int64_t n0 = i * plan.T;
      forward_tile(out, in, w, b, s, n0, std::min(plan.T, s.N - n0));
    }
  }
}

void conv2d_backward(float* din, float* dw, float* db, const float* dout, const float* in, const float* w,
                     const ConvShape& s) {
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
  const int64_t wsize = s.K * (s.C / s.groups) * s.R * s.S;
  if (dw) std::memset(dw, 0, sizeof(float) * wsize);
  const TilePlan plan = plan_tiles(s);
  if (!plan.parallel) {
    for (int64_t i = 0; i < plan.ntiles; ++i) {
      const int64_t n0 = i * plan.T;
      backward_tile(din, dw, dout, in, w, s, n0, std::min(plan.T, s.N - n0));
    }
    return;
  }
  // Thread 0 accumulates straight into dw, the others into their own partial buffers, reduced after.
  const int threads = omp_get_max_threads();
  float* partials = dw ? grow(t_dw, static_cast<size_t>((threads - 1) * wsize)) : nullptr;
#pragma omp parallel num_threads(threads)
  {
    const int tid = omp_get_thread_num();
    float* acc = nullptr;
    if (dw) {
      acc = tid == 0 ? dw : partials + (tid - 1) * wsize;
      if (tid != 0) std::memset(acc, 0, sizeof(float) * wsize);
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < plan.ntiles; ++i) {
      const int64_t n0 = i * plan.T;
      backward_tile(din, acc, dout, in, w, s, n0, std::min(plan.T, s.N - n0));
    }
    if (dw) {  // implicit barrier above: all partials are complete
      const int nthr = omp_get_num_threads();
#pragma omp for schedule(static)
      for (int64_t j = 0; j < wsize; ++j) {
        float sum = dw[j];
        for (int t = 1; t < nthr; ++t) sum += partials[(t - 1) * wsize + j];
        dw[j] = sum;
      }
    }
  }
}

// ---- reference: direct loops ----

void conv2d_forward_reference(float* out, const float* in, const float* w, const float* b, const ConvShape& s) {
  const int64_t P = s.P(), Q = s.Q(), Cg = s.C / s.groups, Kg = s.K / s.groups;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k) {
      const int64_t g = k / Kg;
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          double acc = b ? b[k] : 0.0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t sx = 0; sx < s.S; ++sx) {
                const int64_t h = p * s.stride_h - s.pad_h + r, x = q * s.stride_w - s.pad_w + sx;
                if (h < 0 || h >= s.H || x < 0 || x >= s.W) continue;
                acc += static_cast<double>(w[((k * Cg + c) * s.R + r) * s.S + sx]) *
                       in[((n * s.C + g * Cg + c) * s.H + h) * s.W + x];
              }
          out[((n * s.K + k) * P + p) * Q + q] = static_cast<float>(acc);
        }
    }
}

void conv2d_backward_reference(float* din, float* dw, float* db, const float* dout, const float* in,
                               const float* w, const ConvShape& s) {
  const int64_t P = s.P(), Q = s.Q(), Cg = s.C / s.groups, Kg = s.K / s.groups;
  const int64_t wsize = s.K * Cg * s.R * s.S;
  std::vector<double> din_acc(din ? s.N * s.C * s.H * s.W : 0), dw_acc(dw ? wsize : 0), db_acc(db ? s.K : 0);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k) {
      const int64_t g = k / Kg;
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          const double d = dout[((n * s.K + k) * P + p) * Q + q];
          if (db) db_acc[k] += d;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t sx = 0; sx < s.S; ++sx) {
                const int64_t h = p * s.stride_h - s.pad_h + r, x = q * s.stride_w - s.pad_w + sx;
                if (h < 0 || h >= s.H || x < 0 || x >= s.W) continue;
                const int64_t wi = ((k * Cg + c) * s.R + r) * s.S + sx;
                const int64_t ii = ((n * s.C + g * Cg + c) * s.H + h) * s.W + x;
                if (dw) dw_acc[wi] += d * in[ii];
                if (din) din_acc[ii] += d * w[wi];
              }
        }
    }
  for (size_t i = 0; i < din_acc.size(); ++i) din[i] = static_cast<float>(din_acc[i]);
  for (size_t i = 0; i < dw_acc.size(); ++i) dw[i] = static_cast<float>(dw_acc[i]);
  for (size_t i = 0; i < db_acc.size(); ++i) db[i] = static_cast<float>(db_acc[i]);
}

}  // namespace tg::cpu
