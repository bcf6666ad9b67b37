// Winograd F(4x4, 3x3) convolution on the CPU (see winograd.h for the maths).
//
// The output is cut into 4x4 tiles, tile t = (image n, tile row ty, tile column tx), reading the
// 6x6 input block at (4 ty - pad_h, 4 tx - pad_w). Tiles are processed in chunks of T (a multiple
// of 16) whose transformed data stays near the L2 cache:
//   V (36, C, T)  transformed input tiles      E (36, K, T)  transformed dout tiles
//   M (36, K, T)  transformed output tiles     U (36, K, C)  transformed weights (once per call)
// Transforms run on 16 tiles side by side (lane l = tile t0 + l), so each line of a transform is
// two SIMD instructions; the 36 products per chunk are our sgemm.
#include "engine/cpu/winograd.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/sgemm.h"

namespace tg::cpu {
namespace {

constexpr int64_t kM = 4;        // outputs per tile side
constexpr int64_t kA = 6;        // inputs per tile side: m + 3 - 1
constexpr int64_t kXi = 36;      // transformed points per tile: kA * kA
constexpr int64_t kL = 16;       // tiles transformed side by side
constexpr int64_t kChunkBudgetFloats = 192 * 1024;  // V + M (or V + E) of one chunk: 768 KiB ...
constexpr int64_t kMinChunkTiles = 64;  // ... but at least 64 tiles: with many channels, narrower chunks
                                        // re-pack U and re-write dU (36 K C floats) too often

// Per-thread buffers, grown on demand and kept: a steady state allocates nothing.
thread_local std::vector<float> t_v, t_m, t_u, t_du;

float* grow(std::vector<float>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
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
      continue;
    }
    const int64_t n = t / gr.per_image, r = t % gr.per_image;
    ln.n[l] = n;
    ln.p0[l] = (r / gr.TW) * kM;
    ln.q0[l] = (r % gr.TW) * kM;
  }
}

// U (36, K, C): U[xi][k][c] = (G w[k,c] G^T)[xi].
void weight_transform(float* U, const float* w, const ConvShape& s) {
  const int64_t KC = s.K * s.C;
#pragma omp parallel for schedule(static) if (KC > 4096 && !omp_in_parallel())
  for (int64_t kc = 0; kc < KC; ++kc) {
    const float* g = w + kc * 9;  // w[k, c] 3x3, row-major
    float t[kA * 3], u[kXi];
    for (int64_t j = 0; j < 3; ++j) apply_g(g + j, 3, t + j, 3);      // t (6x3) = G g
    for (int64_t i = 0; i < kA; ++i) apply_g(t + i * 3, 1, u + i * kA, 1);  // u (6x6) = t G^T
    for (int64_t xi = 0; xi < kXi; ++xi) U[xi * KC + kc] = u[xi];
  }
}

// dw (K, C, 3, 3) = G^T dU[k,c] G, from dU (36, K, C).
void weight_transform_adjoint(float* dw, const float* dU, const ConvShape& s) {
  const int64_t KC = s.K * s.C;
#pragma omp parallel for schedule(static) if (KC > 4096 && !omp_in_parallel())
  for (int64_t kc = 0; kc < KC; ++kc) {
    float x[kXi], t[3 * kA];
    for (int64_t xi = 0; xi < kXi; ++xi) x[xi] = dU[xi * KC + kc];
    for (int64_t j = 0; j < kA; ++j) apply_gt(x + j, kA, t + j, kA);  // t (3x6) = G^T x
    for (int64_t i = 0; i < 3; ++i) apply_gt(t + i * kA, 1, dw + kc * 9 + i * 3, 1);  // (3x3) = t G
  }
}

// V (36, C, T) for tiles [t0, t1) (lanes past t1 are zero): V[xi][c][j] = (B^T d B)[xi] of tile t0 + j.
void input_transform(float* V, int64_t T, const float* in, const ConvShape& s, const Grid& gr, int64_t t0,
                     int64_t t1) {
  const int64_t HW = s.H * s.W, CT = s.C * T;
  alignas(64) float d[kXi * kL], tmp[kXi * kL];
  Lanes ln;
  for (int64_t j0 = 0; j0 < T; j0 += kL) {
    locate(ln, gr, t0 + j0, t1);
    for (int64_t c = 0; c < s.C; ++c) {
      for (int64_t l = 0; l < kL; ++l) {  // d[(i*6 + j)*kL + l] = in[n, c, h0 + i, w0 + j], 0 outside
        if (ln.n[l] < 0) {
          for (int64_t x = 0; x < kXi; ++x) d[x * kL + l] = 0.f;
          continue;
        }
        const int64_t h0 = ln.p0[l] - s.pad_h, w0 = ln.q0[l] - s.pad_w;
        const float* plane = in + (ln.n[l] * s.C + c) * HW;
        if (h0 >= 0 && w0 >= 0 && h0 + kA <= s.H && w0 + kA <= s.W) {
          for (int64_t i = 0; i < kA; ++i) {
            const float* row = plane + (h0 + i) * s.W + w0;
            for (int64_t j = 0; j < kA; ++j) d[(i * kA + j) * kL + l] = row[j];
          }
        } else {
          for (int64_t i = 0; i < kA; ++i) {
            const int64_t h = h0 + i;
            for (int64_t j = 0; j < kA; ++j) {
              const int64_t x = w0 + j;
              d[(i * kA + j) * kL + l] = (h >= 0 && h < s.H && x >= 0 && x < s.W) ? plane[h * s.W + x] : 0.f;
            }
          }
        }
      }
      for (int64_t j = 0; j < kA; ++j) apply_bt(d + j * kL, kA * kL, tmp + j * kL, kA * kL);  // columns
      for (int64_t i = 0; i < kA; ++i)                                                        // rows, into V
        apply_bt(tmp + i * kA * kL, kL, V + (i * kA * s.C + c) * T + j0, CT);
    }
  }
}

// out[n, k, 4ty + i, 4tx + j] = bias[k] + (A^T M A)[i][j] of each tile in [t0, t1), inside the map.
void output_transform(float* out, const float* M, int64_t T, const float* b, const ConvShape& s, const Grid& gr,
                      int64_t t0, int64_t t1) {
  const int64_t P = s.P(), Q = s.Q(), KT = s.K * T;
  alignas(64) float tmp[4 * kA * kL], y[kM * kM * kL];
  Lanes ln;
  for (int64_t j0 = 0; j0 < T && t0 + j0 < t1; j0 += kL) {
    locate(ln, gr, t0 + j0, t1);
    for (int64_t k = 0; k < s.K; ++k) {
      const float* m = M + k * T + j0;  // M[xi][k][j0 + l] at m[xi * KT + l]
      for (int64_t j = 0; j < kA; ++j) apply_at(m + j * KT, kA * KT, tmp + j * kL, kA * kL);  // columns: 4x6
      for (int64_t i = 0; i < kM; ++i) apply_at(tmp + i * kA * kL, kL, y + i * kM * kL, kL);   // rows: 4x4
      const float bias = b ? b[k] : 0.f;
      for (int64_t l = 0; l < kL; ++l) {
        if (ln.n[l] < 0) break;
        float* plane = out + (ln.n[l] * s.K + k) * P * Q;
        const int64_t rows = std::min(kM, P - ln.p0[l]), cols = std::min(kM, Q - ln.q0[l]);
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols; ++j) plane[(ln.p0[l] + i) * Q + ln.q0[l] + j] = y[(i * kM + j) * kL + l] + bias;
      }
    }
  }
}

// E (36, K, T): E[xi][k][j] = (A dY A^T)[xi] of the 4x4 dout tile t0 + j (0 outside the map / past t1).
void dout_transform(float* E, int64_t T, const float* dout, const ConvShape& s, const Grid& gr, int64_t t0,
                    int64_t t1) {
  const int64_t P = s.P(), Q = s.Q(), KT = s.K * T;
  alignas(64) float dy[kM * kM * kL], tmp[kA * kM * kL];
  Lanes ln;
  for (int64_t j0 = 0; j0 < T; j0 += kL) {
    locate(ln, gr, t0 + j0, t1);
    for (int64_t k = 0; k < s.K; ++k) {
      for (int64_t l = 0; l < kL; ++l) {  // dy[(i*4 + j)*kL + l]
        const bool tile = ln.n[l] >= 0;
        const float* plane = tile ? dout + (ln.n[l] * s.K + k) * P * Q : nullptr;
        for (int64_t i = 0; i < kM; ++i)
          for (int64_t j = 0; j < kM; ++j) {
            const int64_t p = tile ? ln.p0[l] + i : P, q = tile ? ln.q0[l] + j : Q;
            dy[(i * kM + j) * kL + l] = (p < P && q < Q) ? plane[p * Q + q] : 0.f;
          }
      }
      for (int64_t j = 0; j < kM; ++j) apply_a(dy + j * kL, kM * kL, tmp + j * kL, kM * kL);  // columns: 6x4
      for (int64_t i = 0; i < kA; ++i) apply_a(tmp + i * kM * kL, kL, E + i * kA * KT + k * T + j0, KT);  // rows
    }
  }
}

// din[n, c, h0 + i, w0 + j] += (B dV B^T)[i][j] of each tile in [t0, t1), inside the image.
void input_transform_adjoint(float* din, const float* dV, int64_t T, const ConvShape& s, const Grid& gr, int64_t t0,
                             int64_t t1) {
  const int64_t HW = s.H * s.W, CT = s.C * T;
  alignas(64) float tmp[kXi * kL], dd[kXi * kL];
  Lanes ln;
  for (int64_t j0 = 0; j0 < T && t0 + j0 < t1; j0 += kL) {
    locate(ln, gr, t0 + j0, t1);
    for (int64_t c = 0; c < s.C; ++c) {
      const float* v = dV + c * T + j0;  // dV[xi][c][j0 + l] at v[xi * CT + l]
      for (int64_t j = 0; j < kA; ++j) apply_b(v + j * CT, kA * CT, tmp + j * kL, kA * kL);   // columns
      for (int64_t i = 0; i < kA; ++i) apply_b(tmp + i * kA * kL, kL, dd + i * kA * kL, kL);  // rows
      for (int64_t l = 0; l < kL; ++l) {
        if (ln.n[l] < 0) break;
        const int64_t h0 = ln.p0[l] - s.pad_h, w0 = ln.q0[l] - s.pad_w;
        float* plane = din + (ln.n[l] * s.C + c) * HW;
        const int64_t i0 = std::max<int64_t>(0, -h0), i1 = std::min(kA, s.H - h0);
        const int64_t j_lo = std::max<int64_t>(0, -w0), j_hi = std::min(kA, s.W - w0);
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j_lo; j < j_hi; ++j) plane[(h0 + i) * s.W + w0 + j] += dd[(i * kA + j) * kL + l];
      }
    }
  }
}

// Tiles per chunk: a multiple of kL whose V and M/E fit the budget (at least kMinChunkTiles), and
// no more than `per_thread` tiles (rounded up to kL) so every thread gets work.
int64_t chunk_tiles(const ConvShape& s, int64_t per_thread) {
  const int64_t fit = std::max(kMinChunkTiles, kChunkBudgetFloats / (kXi * (s.C + s.K)) / kL * kL);
  const int64_t share = (per_thread + kL - 1) / kL * kL;
  return std::max(kL, std::min(fit, share));
}

}  // namespace

bool winograd_applies(const ConvShape& s) {
  return s.algorithm == ConvAlgorithm::Auto && s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 &&
         s.groups == 1 && s.pad_h <= 2 && s.pad_w <= 2 && s.C >= 16 && s.K >= 16 && s.P() >= 4 && s.Q() >= 4;
}

void winograd_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s) {
  const Grid gr = grid(s);
  const int64_t tiles = s.N * gr.per_image;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t T = chunk_tiles(s, (tiles + threads - 1) / threads);
  const int64_t chunks = (tiles + T - 1) / T;
  float* U = grow(t_u, static_cast<size_t>(kXi * s.K * s.C));
  weight_transform(U, w, s);
  // Chunks write disjoint output tiles: any thread may take any chunk, the result is the same.
#pragma omp parallel for schedule(dynamic, 1) if (threads > 1 && chunks > 1)
  for (int64_t i = 0; i < chunks; ++i) {
    const int64_t t0 = i * T, t1 = std::min(tiles, t0 + T);
    float* V = grow(t_v, static_cast<size_t>(kXi * s.C * T));
    float* M = grow(t_m, static_cast<size_t>(kXi * s.K * T));
    input_transform(V, T, in, s, gr, t0, t1);
    for (int64_t xi = 0; xi < kXi; ++xi)  // M[xi] (K, T) = U[xi] (K, C) x V[xi] (C, T)
      sgemm(false, false, s.K, T, s.C, 1.f, U + xi * s.K * s.C, s.C, V + xi * s.C * T, T, 0.f, M + xi * s.K * T, T);
    output_transform(out, M, T, b, s, gr, t0, t1);
  }
}

void winograd_backward(float* din, float* dw, const float* dout, const float* in, const float* w, const ConvShape& s) {
  if (!din && !dw) return;
  const Grid gr = grid(s);
  const int threads = omp_in_parallel() ? 1 : static_cast<int>(std::min<int64_t>(omp_get_max_threads(), s.N));
  const int64_t KC = s.K * s.C, CHW = s.C * s.H * s.W;
  float* U = grow(t_u, static_cast<size_t>(kXi * KC));
  if (din) weight_transform(U, w, s);
  // dU partials, one (36, K, C) block per thread, summed after the parallel region.
  float* dU = dw ? grow(t_du, static_cast<size_t>(threads * kXi * KC)) : nullptr;
  // Each thread owns whole images (tiles of one image overlap in din), so din needs no locks.
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int tid = omp_get_thread_num(), team = omp_get_num_threads();
    const int64_t n0 = s.N * tid / team, n1 = s.N * (tid + 1) / team;
    const int64_t first = n0 * gr.per_image, last = n1 * gr.per_image;
    const int64_t T = chunk_tiles(s, last - first);
    float* V = grow(t_v, static_cast<size_t>(kXi * s.C * T));
    float* E = grow(t_m, static_cast<size_t>(kXi * s.K * T));
    float* dU_mine = dU ? dU + tid * kXi * KC : nullptr;
    if (dU_mine) std::memset(dU_mine, 0, sizeof(float) * kXi * KC);
    if (din) std::memset(din + n0 * CHW, 0, sizeof(float) * (n1 - n0) * CHW);
    for (int64_t t0 = first; t0 < last; t0 += T) {
      const int64_t t1 = std::min(last, t0 + T);
      dout_transform(E, T, dout, s, gr, t0, t1);
      if (dU_mine) input_transform(V, T, in, s, gr, t0, t1);
      for (int64_t xi = 0; xi < kXi; ++xi) {
        float* Vx = V + xi * s.C * T;
        const float* Ex = E + xi * s.K * T;
        if (dU_mine)  // dU[xi] (K, C) += E[xi] (K, T) x V[xi]^T
          sgemm(false, true, s.K, s.C, T, 1.f, Ex, T, Vx, T, 1.f, dU_mine + xi * KC, s.C);
        if (din)  // dV[xi] (C, T) = U[xi]^T (C, K) x E[xi] (K, T), into V's place (V[xi] is used up)
          sgemm(true, false, s.C, T, s.K, 1.f, U + xi * KC, s.C, Ex, T, 0.f, Vx, T);
      }
      if (din) input_transform_adjoint(din, V, T, s, gr, t0, t1);
    }
  }
  if (dw) {
    for (int t = 1; t < threads; ++t) {
      const float* part = dU + t * kXi * KC;
#pragma omp parallel for schedule(static) if (kXi * KC > 65536)
      for (int64_t i = 0; i < kXi * KC; ++i) dU[i] += part[i];
    }
    weight_transform_adjoint(dw, dU, s);
  }
}

}  // namespace tg::cpu
