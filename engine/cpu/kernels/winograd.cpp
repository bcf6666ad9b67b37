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
//
// This file: the chunks, the weight transforms and the 36 products per chunk, the threads; the
// image-side transforms are in winograd_input.cpp and winograd_output.cpp (winograd_tiles.h).
#include "engine/cpu/kernels/winograd_tiles.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/gemm_bf16.h"
#include "engine/cpu/scratch.h"

namespace tg::cpu::TG_ISA_NS {
namespace {

using namespace winograd;  // the tile geometry and the image-side transforms

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
    for (int64_t t0 = first; t0 < last; t0 += T) {
      const int64_t t1 = std::min(last, t0 + T);
      const Lanes* lanes = locate_groups(gr, t0, t1, T);
      dout_transform(E, T, dout, s, lanes, 0, s.K);
      if (dU_unit) input_transform(V, T, in, s, lanes, 0, s.C);
      const float beta = t0 == first ? 0.f : 1.f;
      for (int64_t xi = 0; xi < kXi; ++xi) backward_products(V, E, Ut, dU_unit, beta, T, s, xi);
      if (din) input_transform_adjoint(din, V, T, s, lanes, groups_with_tiles(t0, t1), 0, s.C);
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
      if (din) input_transform_adjoint(din, V, T, s, lanes, groups_with_tiles(t0, t1), c0, c1);
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
