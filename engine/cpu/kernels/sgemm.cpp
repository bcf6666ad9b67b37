// Packed SGEMM: blocking, packing and the micro-kernels (see sgemm.h): 12 x 32 with AVX-512, 6 x 16
// with AVX2 + FMA, a portable loop otherwise (one copy per ISA level, isa_kernels.h).
#include "engine/cpu/kernels/isa_kernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/kernels/simd_transpose.h"
#include "engine/cpu/scratch.h"

#if TG_ISA_LEVEL >= 1
#define TG_SGEMM_AVX2 1
#endif

namespace tg::cpu::TG_ISA_NS {

namespace {

#if TG_ISA_LEVEL >= 2
// AVX-512: 12 rows x 32 columns (2 zmm per row): 24 accumulators + 2 B vectors + 1 broadcast of the
// 32 zmm registers; per k 2 B loads and 12 broadcasts feed 24 FMAs.
constexpr int64_t MR = 12, NR = 32;
constexpr int64_t KC = 256;   // A sliver 12 KiB, B sliver 32 KiB (L1: 48 KiB)
constexpr int64_t MC = 144;   // rows of A per packed block: 144 KiB (L2)
#else
constexpr int64_t MR = 6, NR = 16;  // register tile: 6 rows x 16 columns (2 ymm per row)
constexpr int64_t KC = 256;         // depth of one packed slice: A sliver 6 KiB, B sliver 16 KiB (L1)
constexpr int64_t MC = 120;         // rows of A per packed block: 120 KiB (L2)
#endif
constexpr int64_t NC = 3072;        // columns of B per packed panel: 3 MiB (L3)

// Packed buffers, per thread (grow_aligned, scratch.h): grown on demand and kept, 64-byte aligned.
thread_local std::vector<float> t_pack_a, t_pack_b;

// Packs op(A)[i0 : i0+mc, k0 : k0+kc] as ceil(mc/MR) slivers, each kc columns of MR values
// (rows past mc are zero): pa[s * MR * kc + k * MR + r] = op(A)[i0 + s*MR + r, k0 + k].
// With AVX2 a full sliver of a row-major A goes 8 columns at a time: six row loads, one 8x8
// register transpose, eight 8-float stores that overlap by 2 (each k's store spills 2 floats into
// k + 1's place, rewritten next; the last spill lands in the next sliver, written after, or in the
// buffer's slack of kPackSlack floats).
constexpr int64_t kPackSlack = 8;

void pack_a(float* pa, const float* A, int64_t lda, bool trans, int64_t i0, int64_t mc, int64_t k0, int64_t kc) {
  for (int64_t s = 0; s < mc; s += MR) {
    const int64_t rows = std::min(MR, mc - s);
    float* dst = pa + s * kc;
    // A short last sliver is zeroed whole first (one fill, not a tiny memset per k).
    if (rows < MR) std::memset(dst, 0, sizeof(float) * MR * kc);
    if (!trans) {
      int64_t k = 0;
#ifdef TG_SGEMM_AVX2
      if (rows == MR) {  // MR = 6 or 12: groups of six rows, each k's groups stored in order
        const float* src = A + (i0 + s) * lda + k0;
        constexpr int64_t kGroups = MR / 6;
        for (; k + 8 <= kc; k += 8) {
          __m256 r[kGroups][8];
          for (int64_t h = 0; h < kGroups; ++h) {
            for (int64_t i = 0; i < 6; ++i) r[h][i] = _mm256_loadu_ps(src + (6 * h + i) * lda + k);
            r[h][6] = r[h][7] = _mm256_setzero_ps();
            transpose8(r[h]);  // r[h][j] = op(A)[rows 6h .. 6h+5, k + j], then two zeros
          }
          for (int64_t j = 0; j < 8; ++j)
            for (int64_t h = 0; h < kGroups; ++h) _mm256_storeu_ps(dst + (k + j) * MR + 6 * h, r[h][j]);
        }
      }
#endif
      for (; k < kc; ++k)
        for (int64_t r = 0; r < rows; ++r) dst[k * MR + r] = A[(i0 + s + r) * lda + k0 + k];
    } else {  // op(A)[i, k] = A[k * lda + i]: each k copies MR consecutive floats
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = A + (k0 + k) * lda + i0 + s;
        if (rows == MR) {
          std::memcpy(dst + k * MR, src, MR * sizeof(float));
        } else {
          for (int64_t r = 0; r < rows; ++r) dst[k * MR + r] = src[r];
        }
      }
    }
  }
}

// Packs op(B)[k0 : k0+kc, j0 : j0+nc] as ceil(nc/NR) slivers of kc rows of NR values (columns
// past nc are zero): pb[s * NR * kc + k * NR + c] = op(B)[k0 + k, j0 + s*NR + c].
void pack_b(float* pb, const float* B, int64_t ldb, bool trans, int64_t k0, int64_t kc, int64_t j0, int64_t nc) {
  const int64_t full = nc / NR * NR;  // columns in full slivers
  if (!trans && full > 0) {
    // Full slivers row by row: each row of B is read front to back in one stream (B often comes
    // from DRAM; walking a sliver down kc rows would read 64 bytes per row, rows ldb apart), and
    // its NR-float pieces go to the slivers (in L1/L2).
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = B + (k0 + k) * ldb + j0;
      for (int64_t s = 0; s < full; s += NR) std::memcpy(pb + s * kc + k * NR, src + s, NR * sizeof(float));
    }
    if (full == nc) return;
  }
  for (int64_t s = trans ? 0 : full; s < nc; s += NR) {
    const int64_t cols = std::min(NR, nc - s);
    float* dst = pb + s * kc;
    if (!trans) {  // op(B)[k, j] = B[k * ldb + j]: each k copies up to NR consecutive floats
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = B + (k0 + k) * ldb + j0 + s;
        if (cols == NR) {
          std::memcpy(dst + k * NR, src, NR * sizeof(float));
        } else {
          for (int64_t c = 0; c < cols; ++c) dst[k * NR + c] = src[c];
          for (int64_t c = cols; c < NR; ++c) dst[k * NR + c] = 0.f;
        }
      }
    } else {  // op(B)[k, j] = B[j * ldb + k]
#ifdef TG_SGEMM_AVX2
      // A full sliver 8 k at a time: per half, 8 column loads, one 8x8 transpose, 8 stores.
      if (cols == NR) {
        int64_t k = 0;
        for (; k + 8 <= kc; k += 8)
          for (int64_t half = 0; half < NR; half += 8) {
            __m256 r[8];
            for (int64_t c = 0; c < 8; ++c) r[c] = _mm256_loadu_ps(B + (j0 + s + half + c) * ldb + k0 + k);
            transpose8(r);  // r[i] = op(B)[k + i, columns half .. half + 7]
            for (int64_t i = 0; i < 8; ++i) _mm256_storeu_ps(dst + (k + i) * NR + half, r[i]);
          }
        for (; k < kc; ++k)
          for (int64_t c = 0; c < NR; ++c) dst[k * NR + c] = B[(j0 + s + c) * ldb + k0 + k];
        continue;
      }
#endif
      // Walk each column's contiguous k run.
      for (int64_t c = 0; c < cols; ++c) {
        const float* src = B + (j0 + s + c) * ldb + k0;
        for (int64_t k = 0; k < kc; ++k) dst[k * NR + c] = src[k];
      }
      for (int64_t c = cols; c < NR; ++c)
        for (int64_t k = 0; k < kc; ++k) dst[k * NR + c] = 0.f;
    }
  }
}

// The register tile: acc (MR x NR) = sum_k pa[k * MR + r] * pb[k * NR + c], then either
//   write_tile:  C[r * ldc + c] = alpha * acc + beta * C  (a full tile; beta = 0: C is not read)
//   spill_tile:  edge[r * NR + c] = acc                     (an edge tile, finished by store_tile)
#if TG_ISA_LEVEL >= 2
using Tile = __m512[MR][2];

template <int64_t ROWS>
inline void micro_kernel(int64_t kc, const float* pa, const float* pb, Tile& c) {
  for (int64_t r = 0; r < MR; ++r) c[r][0] = c[r][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(pb), b1 = _mm512_loadu_ps(pb + 16);
    for (int64_t r = 0; r < ROWS; ++r) {
      const __m512 a = _mm512_set1_ps(pa[r]);
      c[r][0] = _mm512_fmadd_ps(a, b0, c[r][0]);
      c[r][1] = _mm512_fmadd_ps(a, b1, c[r][1]);
    }
    pa += MR;
    pb += NR;
  }
}

// C[r, c] = alpha * acc + beta * C for r < rows, c < cols (beta = 0: C is not read): the columns
// past cols masked off, so edge tiles need no scalar remainder.
inline void write_tile_masked(const Tile& c, float* C, int64_t ldc, int64_t rows, int64_t cols, float alpha,
                              float beta) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const Mask16 mask[2] = {first_lanes(cols), first_lanes(cols - 16)};
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < 2; ++h) {
      float* out = C + r * ldc + 16 * h;
      __m512 v = _mm512_mul_ps(va, c[r][h]);
      if (beta == 1.f) {
        v = _mm512_add_ps(masked_load(mask[h], out), v);
      } else if (beta != 0.f) {
        v = _mm512_fmadd_ps(vb, masked_load(mask[h], out), v);
      }
      masked_store(out, mask[h], v);
    }
}

inline void write_tile(const Tile& c, float* C, int64_t ldc, float alpha, float beta) {
  write_tile_masked(c, C, ldc, MR, NR, alpha, beta);
}
#elif defined(TG_SGEMM_AVX2)
using Tile = __m256[MR][2];

// ROWS = MR for every sliver but a short last one of at most MR / 2 rows (M = 32, 128: 2 rows), which
// skips the FMAs of its zero rows (their accumulators stay 0 and are never stored).
template <int64_t ROWS>
inline void micro_kernel(int64_t kc, const float* pa, const float* pb, Tile& c) {
  for (int64_t r = 0; r < MR; ++r) c[r][0] = c[r][1] = _mm256_setzero_ps();
  // Per k: two B vectors (16 columns) times six broadcast A values into the 12 accumulators.
  // (Unrolling this loop by 4 with prefetches measured ~25% slower here.)
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(pb), b1 = _mm256_loadu_ps(pb + 8);
    for (int64_t r = 0; r < ROWS; ++r) {
      const __m256 a = _mm256_broadcast_ss(pa + r);
      c[r][0] = _mm256_fmadd_ps(a, b0, c[r][0]);
      c[r][1] = _mm256_fmadd_ps(a, b1, c[r][1]);
    }
    pa += MR;
    pb += NR;
  }
}

inline void write_tile(const Tile& c, float* C, int64_t ldc, float alpha, float beta) {
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t h = 0; h < 2; ++h) {
      float* out = C + r * ldc + 8 * h;
      __m256 v = _mm256_mul_ps(va, c[r][h]);
      if (beta == 1.f) {
        v = _mm256_add_ps(_mm256_loadu_ps(out), v);
      } else if (beta != 0.f) {
        v = _mm256_fmadd_ps(vb, _mm256_loadu_ps(out), v);
      }
      _mm256_storeu_ps(out, v);
    }
}

inline void spill_tile(const Tile& c, float* edge) {
  for (int64_t r = 0; r < MR; ++r) {
    _mm256_storeu_ps(edge + r * NR, c[r][0]);
    _mm256_storeu_ps(edge + r * NR + 8, c[r][1]);
  }
}
#else
using Tile = float[MR * NR];

template <int64_t ROWS>
inline void micro_kernel(int64_t kc, const float* pa, const float* pb, Tile& acc) {
  for (int64_t e = 0; e < MR * NR; ++e) acc[e] = 0.f;
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t r = 0; r < ROWS; ++r) {
      const float a = pa[k * MR + r];
#pragma omp simd
      for (int64_t j = 0; j < NR; ++j) acc[r * NR + j] += a * pb[k * NR + j];
    }
}

inline void write_tile(const Tile& acc, float* C, int64_t ldc, float alpha, float beta) {
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t j = 0; j < NR; ++j) {
      const float v = alpha * acc[r * NR + j];
      float& out = C[r * ldc + j];
      out = beta == 0.f ? v : beta == 1.f ? out + v : beta * out + v;
    }
}

inline void spill_tile(const Tile& acc, float* edge) { std::memcpy(edge, acc, sizeof(Tile)); }
#endif

// C tile (rows x cols, the valid part of MR x NR) += alpha * acc; `first` slices write
// beta * C + alpha * acc instead (beta = 0: C is not read).
inline void store_tile(float* C, int64_t ldc, int64_t rows, int64_t cols, const float* acc, float alpha, float beta,
                       bool first) {
  for (int64_t r = 0; r < rows; ++r) {
    float* c = C + r * ldc;
    const float* a = acc + r * NR;
    if (!first || beta == 1.f) {
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) c[j] += alpha * a[j];
    } else if (beta == 0.f) {
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) c[j] = alpha * a[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) c[j] = beta * c[j] + alpha * a[j];
    }
  }
}

// An edge tile (rows x cols, the valid part of MR x NR): AVX-512 stores it with masks; the other
// levels spill the accumulators and finish with store_tile's loops.
inline void write_edge_tile(const Tile& tile, float* C, int64_t ldc, int64_t rows, int64_t cols, float alpha,
                            float beta, bool first) {
#if TG_ISA_LEVEL >= 2
  write_tile_masked(tile, C, ldc, rows, cols, alpha, first ? beta : 1.f);
#else
  alignas(64) float acc[MR * NR];
  spill_tile(tile, acc);
  store_tile(C, ldc, rows, cols, acc, alpha, beta, first);
#endif
}

// The micro-kernel for a sliver of `rows` valid rows. AVX-512 runs exactly those rows' FMAs (the
// Winograd products have M = 32 = 12 + 12 + 8: the last sliver would spend a third of its FMAs on
// zero rows); the other levels run all MR rows, or MR / 2 for a short last sliver.
inline void run_micro_kernel(int64_t rows, int64_t kc, const float* pa, const float* pb, Tile& tile) {
#if TG_ISA_LEVEL >= 2
  switch (rows) {
    case 1: case 2: return micro_kernel<2>(kc, pa, pb, tile);
    case 3: case 4: return micro_kernel<4>(kc, pa, pb, tile);
    case 5: case 6: return micro_kernel<6>(kc, pa, pb, tile);
    case 7: case 8: return micro_kernel<8>(kc, pa, pb, tile);
    case 9: case 10: return micro_kernel<10>(kc, pa, pb, tile);
    default: return micro_kernel<MR>(kc, pa, pb, tile);
  }
#else
  if (rows > MR / 2) {
    micro_kernel<MR>(kc, pa, pb, tile);
  } else {
    micro_kernel<MR / 2>(kc, pa, pb, tile);
  }
#endif
}

// Rows of op(A) rounded up to whole slivers: the height of a packed K slice.
int64_t padded_rows(int64_t M) { return (M + MR - 1) / MR * MR; }

// The pre-packed layout (sgemm_pack_a): K slice k0 (kc deep) at offset k0 * padded_rows(M), its MC
// blocks one after another, so block i0 of it starts i0 * kc further: exactly what pack_a writes
// for (i0, mc, k0, kc).
int64_t packed_block_offset(int64_t M, int64_t i0, int64_t k0, int64_t kc) { return k0 * padded_rows(M) + i0 * kc; }

// The blocked loops of sgemm; A comes packed (packed_a, sgemm_pack_a's layout) or is packed here
// block by block (packed_a == nullptr: A, lda, trans_a).
void gemm_loops(const float* packed_a, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.f) {  // C = beta C
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
    return;
  }
  const int64_t nc_max = std::min(NC, (N + NR - 1) / NR * NR), kc_max = std::min(KC, K);
  const int64_t mc_max = std::min(MC, padded_rows(M));
  float* pb = grow_aligned(t_pack_b, static_cast<size_t>(nc_max * kc_max));
  float* pack_buf = packed_a ? nullptr : grow_aligned(t_pack_a, static_cast<size_t>(mc_max * kc_max + kPackSlack));
  Tile tile;
  for (int64_t j0 = 0; j0 < N; j0 += NC) {
    const int64_t nc = std::min(NC, N - j0);
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
      const int64_t kc = std::min(KC, K - k0);
      const bool first = k0 == 0;  // the first K slice applies beta
      pack_b(pb, B, ldb, trans_b, k0, kc, j0, nc);
      for (int64_t i0 = 0; i0 < M; i0 += MC) {
        const int64_t mc = std::min(MC, M - i0);
        const float* pa = packed_a ? packed_a + packed_block_offset(M, i0, k0, kc) : pack_buf;
        if (!packed_a) pack_a(pack_buf, A, lda, trans_a, i0, mc, k0, kc);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t cols = std::min(NR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t rows = std::min(MR, mc - ir);
            float* c = C + (i0 + ir) * ldc + j0 + jr;
            run_micro_kernel(rows, kc, pa + ir * kc, pb + jr * kc, tile);
            if (rows == MR && cols == NR) {  // beta applies on the first K slice; later slices add
              write_tile(tile, c, ldc, alpha, first ? beta : 1.f);
            } else {
              write_edge_tile(tile, c, ldc, rows, cols, alpha, beta, first);
            }
          }
        }
      }
    }
  }
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_loops(nullptr, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int64_t sgemm_packed_a_floats(int64_t M, int64_t K) { return padded_rows(M) * K + kPackSlack; }

void sgemm_pack_a(float* packed_a, bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda) {
  // Slices and blocks in increasing order: the AVX2 packing's spill past a sliver lands in the next
  // one, written after it, or in the kPackSlack floats at the end.
  for (int64_t k0 = 0; k0 < K; k0 += KC) {
    const int64_t kc = std::min(KC, K - k0);
    for (int64_t i0 = 0; i0 < M; i0 += MC)
      pack_a(packed_a + packed_block_offset(M, i0, k0, kc), A, lda, trans_a, i0, std::min(MC, M - i0), k0, kc);
  }
}

void sgemm_packed(const float* packed_a, int64_t M, int64_t K, bool trans_b, int64_t N, float alpha, const float* B,
                  int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_loops(packed_a, false, trans_b, M, N, K, alpha, nullptr, 0, B, ldb, beta, C, ldc);
}

}  // namespace tg::cpu::TG_ISA_NS
