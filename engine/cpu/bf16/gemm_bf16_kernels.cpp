// The two hardware kernels of gemm_bf16 (gemm_bf16.h), sharing one packing. Compiled alone with
// -mavx512bf16 -mamx-tile -mamx-bf16 (CMakeLists.txt); each called only where the CPU has it
// (tg::cpu_bf16_gemm(), isa.h). Both compute
//   C (M, N) = alpha * bf16(op(A)) bf16(op(B)) + beta * C
// from op(A) and op(B) packed into 1 KiB tiles of bf16 (A by the caller, pack_a_tiles, possibly
// once for many products; B here, per call), zero padded to whole tiles and to an even count:
//   A tile (mb, kb): 16 rows of 32 bf16, row i = op(A)[mb*16 + i][kb*32 .. +32) in order
//   B tile (nb, kb): 16 rows p of 16 bf16 pairs (the "VNNI" layout), row p = for each column
//                    j = nb*16 .. +16 the pair (op(B)[kb*32 + 2p][j], op(B)[kb*32 + 2p + 1][j]),
//                    low half first
// so that one pair of A (a 32-bit element of its row) times one pair of B is a two-term dot product.
// Zero padding adds nothing: a padded K position is 0 in A and in B (0 x 0); padded rows and
// columns of C are never stored.
//
//   amx          TDPBF16PS on tiles: C (16, 16) fp32 += A tile x B tile (512 multiply-adds in pairs).
//                Every 32 x 32 block of C in four accumulator tiles over the K/32 steps:
//                  tiles 0..3  C (rows 0-15 | 16-31) x (cols 0-15 | 16-31)
//                  tiles 4, 5  A rows 0-15, 16-31      tiles 6, 7  B cols 0-15, 16-31
//                then through a 32 x 32 buffer into C.
//   avx512_bf16  VDPBF16PS on zmm registers: acc[j] += a.lo * b[j].lo + a.hi * b[j].hi for 16
//                columns j, a one A pair broadcast. Blocks of 8 rows x 32 columns: 16 accumulators,
//                per pair step 2 B rows loaded and 8 A pairs broadcast. For CPUs with AVX512-BF16
//                and no AMX (AMD Zen 4/5, Intel Cooper Lake): twice the multiply-adds of an fp32 FMA
//                per instruction, a gain only where it issues as often as an FMA (not on the
//                Sapphire Rapids-class host of docs/performance.md: 0.65x sgemm there).
#include "engine/cpu/bf16/gemm_bf16_kernels.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/cpu/kernels/x86_intrinsics.h"
#include "engine/cpu/scratch.h"

namespace tg::cpu::bf16 {

namespace {

constexpr int64_t kRows = 16;             // rows of a tile
constexpr int64_t kDepth = 32;            // K of one tile product (32 bf16 = 64 bytes per A row)
constexpr int64_t kTileHalves = 16 * 32;  // bf16 per tile (1 KiB)

// Palette 1, every tile 16 rows x 64 bytes (the layout of the hardware's 64-byte config block).
struct alignas(64) TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

void configure_tiles() {
  TileConfig cfg{};
  cfg.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = kRows;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
}

// B's packed tiles, per thread (grow_aligned, scratch.h; floats reused as pairs of bf16). A's come
// from the caller (gemm_bf16.cpp), which may keep them for many products.
thread_local std::vector<float> t_pack_b;

// Lanes [0, n) on, n clamped to [0, 16].
inline __mmask16 first_lanes(int64_t n) {
  return static_cast<__mmask16>(n <= 0 ? 0u : n >= 16 ? 0xffffu : (1u << n) - 1u);
}

// 32 consecutive floats (the first n of them; 0 past n) as 32 bf16 in order (16 pairs).
inline __m512i bf16_row32(const float* p, int64_t n) {
  const __m512 lo = _mm512_maskz_loadu_ps(first_lanes(n), p);
  const __m512 hi = _mm512_maskz_loadu_ps(first_lanes(n - 16), p + 16);
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));  // element e: bf16(p[e])
}

// Two rows of 16 floats (the first n; r1 null for a missing second row): pair j is (r0[j], r1[j]).
inline __m512i bf16_pairs16(const float* r0, const float* r1, int64_t n) {
  alignas(64) static constexpr uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,
                                                           21, 6, 22, 7, 23, 8,  24, 9,  25, 10, 26,
                                                           11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __mmask16 m = first_lanes(n);
  const __m512 a = _mm512_maskz_loadu_ps(m, r0);
  const __m512 b = r1 ? _mm512_maskz_loadu_ps(m, r1) : _mm512_setzero_ps();
  const __m512i both = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a));  // a0..a15 b0..b15
  return _mm512_permutexvar_epi16(_mm512_load_si512(kInterleave), both);       // a0 b0 a1 b1 ...
}

// r[j][i] <- r[i][j] for the 16 x 16 matrix of 32-bit elements held in 16 zmm registers:
// 32-bit and 64-bit unpacks transpose each 4 x 4 block, two 128-bit lane shuffles place the blocks.
inline void transpose16x16(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  // u[4i + q], lane L: column 4L + q of rows 4i .. 4i+3
  for (int i = 0; i < 4; ++i) {
    u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // row 4L + q = (u[q], u[4 + q], u[8 + q], u[12 + q]) lane L each
  for (int q = 0; q < 4; ++q) {
    const __m512i lo01 = _mm512_shuffle_i32x4(u[q], u[4 + q], 0x44), hi01 = _mm512_shuffle_i32x4(u[q], u[4 + q], 0xee);
    const __m512i lo23 = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0x44);
    const __m512i hi23 = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0xee);
    r[q] = _mm512_shuffle_i32x4(lo01, lo23, 0x88);
    r[4 + q] = _mm512_shuffle_i32x4(lo01, lo23, 0xdd);
    r[8 + q] = _mm512_shuffle_i32x4(hi01, hi23, 0x88);
    r[12 + q] = _mm512_shuffle_i32x4(hi01, hi23, 0xdd);
  }
}

// Tiles of a matrix X with one dimension K (the sum's) and the other R (op(A)'s rows or op(B)'s
// columns), tile (rb, kb) at dst + (rb * KB + kb) * kTileHalves. X's memory rows run along K
// (k_rows false: each tile row is 32 bf16 of one R index) or along R (k_rows true: each tile row is
// 16 pairs from two K rows); then the 16 x 16 pairs are transposed if asked.
void pack_tiles(uint16_t* dst, const float* X, int64_t ld, bool k_rows, bool transpose, int64_t R, int64_t K,
                int64_t RB, int64_t KB) {
  for (int64_t rb = 0; rb < RB; ++rb) {
    const int64_t r0 = rb * kRows, n = std::clamp<int64_t>(R - r0, 0, kRows);
    for (int64_t kb = 0; kb < KB; ++kb) {
      const int64_t k0 = kb * kDepth, depth = std::min(kDepth, K - k0);
      __m512i v[16];
      for (int64_t i = 0; i < kRows; ++i) {
        const int64_t k = k0 + 2 * i;
        if (k_rows) {  // rows k, k + 1 of X, R indices r0 .. r0 + n
          v[i] = n > 0 && k < K ? bf16_pairs16(X + k * ld + r0, k + 1 < K ? X + (k + 1) * ld + r0 : nullptr, n)
                                : _mm512_setzero_si512();
        } else {  // row r0 + i of X, K indices k0 .. k0 + depth
          v[i] = i < n ? bf16_row32(X + (r0 + i) * ld + k0, depth) : _mm512_setzero_si512();
        }
      }
      if (transpose) transpose16x16(v);
      __m512i* tile = reinterpret_cast<__m512i*>(dst + (rb * KB + kb) * kTileHalves);
      for (int64_t i = 0; i < kRows; ++i) _mm512_store_si512(tile + i, v[i]);
    }
  }
}

// op(A) (M, K) as MB x KB tiles: row i of tile (mb, kb) holds op(A)[mb*16 + i][kb*32 .. +32).
// op(A)[i][k] is A[i * lda + k] (rows in place) or A[k * lda + i] (pairs of A's rows, transposed).
void pack_a(uint16_t* pa, const float* A, int64_t lda, bool trans, int64_t M, int64_t K, int64_t MB, int64_t KB) {
  pack_tiles(pa, A, lda, /*k_rows=*/trans, /*transpose=*/trans, M, K, MB, KB);
}

// op(B) (K, N) as NB x KB tiles in pair layout: row p of tile (nb, kb) holds (op(B)[k0 + 2p][j],
// op(B)[k0 + 2p + 1][j]) for j = nb*16 .. +16. op(B)[k][j] is B[k * ldb + j] (pairs of B's rows in
// place) or B[j * ldb + k] (B's row j is column j's pairs in order, transposed).
void pack_b(uint16_t* pb, const float* B, int64_t ldb, bool trans, int64_t N, int64_t K, int64_t NB, int64_t KB) {
  pack_tiles(pb, B, ldb, /*k_rows=*/!trans, /*transpose=*/trans, N, K, NB, KB);
}

// C[i0 .., j0 ..] (rows x cols, at most 32 x 32) = alpha * acc + beta * C, acc rows 32 floats apart.
void store_block(float* C, int64_t ldc, const float* acc, int64_t rows, int64_t cols, float alpha, float beta) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int64_t r = 0; r < rows; ++r) {
    float* c = C + r * ldc;
    for (int64_t h = 0; h < 2 && 16 * h < cols; ++h) {
      const __mmask16 m = first_lanes(cols - 16 * h);
      __m512 v = _mm512_mul_ps(va, _mm512_load_ps(acc + r * 32 + 16 * h));
      if (beta != 0.f) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, c + 16 * h), v);
      _mm512_mask_storeu_ps(c + 16 * h, m, v);
    }
  }
}

int64_t even_tiles(int64_t n) { return ((n + kRows - 1) / kRows + 1) / 2 * 2; }
int64_t depth_tiles(int64_t K) { return (K + kDepth - 1) / kDepth; }

// Both operands packed (the tile layouts above): MB x KB tiles of A, NB x KB of B, MB and NB even.
// A comes packed by the caller (pack_a_tiles); B is packed here.
struct Packed {
  const uint16_t* a;
  const uint16_t* b;
  int64_t MB, NB, KB;
  const uint16_t* a_tile(int64_t mb, int64_t kb) const { return a + (mb * KB + kb) * kTileHalves; }
  const uint16_t* b_tile(int64_t nb, int64_t kb) const { return b + (nb * KB + kb) * kTileHalves; }
};

Packed pack_with_b(const float* packed_a, int64_t M, int64_t K, bool trans_b, int64_t N, const float* B, int64_t ldb) {
  const int64_t MB = even_tiles(M), NB = even_tiles(N), KB = depth_tiles(K);
  // One tile is 256 floats' worth of bf16.
  uint16_t* pb = reinterpret_cast<uint16_t*>(grow_aligned(t_pack_b, static_cast<size_t>(NB * KB * 256)));
  pack_b(pb, B, ldb, trans_b, N, K, NB, KB);
  return {reinterpret_cast<const uint16_t*>(packed_a), pb, MB, NB, KB};
}

}  // namespace

int64_t pack_a_floats(int64_t M, int64_t K) { return even_tiles(M) * depth_tiles(K) * 256; }

void pack_a_tiles(float* dst, bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda) {
  pack_a(reinterpret_cast<uint16_t*>(dst), A, lda, trans_a, M, K, even_tiles(M), depth_tiles(K));
}

void gemm_amx(const float* packed_a, int64_t M, int64_t K, bool trans_b, int64_t N, float alpha, const float* B,
              int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  const Packed pk = pack_with_b(packed_a, M, K, trans_b, N, B, ldb);
  const int64_t MB = pk.MB, NB = pk.NB, KB = pk.KB;
  configure_tiles();
  alignas(64) float acc[32 * 32];
  for (int64_t nb = 0; nb < NB; nb += 2) {
    const uint16_t* b0 = pk.b_tile(nb, 0);
    const uint16_t* b1 = pk.b_tile(nb + 1, 0);
    for (int64_t mb = 0; mb < MB; mb += 2) {
      const uint16_t* a0 = pk.a_tile(mb, 0);
      const uint16_t* a1 = pk.a_tile(mb + 1, 0);
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int64_t kb = 0; kb < KB; ++kb) {
        _tile_loadd(4, a0 + kb * kTileHalves, 64);
        _tile_loadd(5, a1 + kb * kTileHalves, 64);
        _tile_loadd(6, b0 + kb * kTileHalves, 64);
        _tile_loadd(7, b1 + kb * kTileHalves, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(0, acc, 128);
      _tile_stored(1, acc + 16, 128);
      _tile_stored(2, acc + 16 * 32, 128);
      _tile_stored(3, acc + 16 * 32 + 16, 128);
      const int64_t i0 = mb * kRows, j0 = nb * kRows;
      const int64_t rows = std::min<int64_t>(32, M - i0), cols = std::min<int64_t>(32, N - j0);
      if (rows > 0 && cols > 0) store_block(C + i0 * ldc + j0, ldc, acc, rows, cols, alpha, beta);
    }
  }
  _tile_release();
}

void gemm_avx512_bf16(const float* packed_a, int64_t M, int64_t K, bool trans_b, int64_t N, float alpha,
                      const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  const Packed pk = pack_with_b(packed_a, M, K, trans_b, N, B, ldb);
  constexpr int64_t kBlockRows = 8;
  for (int64_t nb = 0; nb < pk.NB; nb += 2) {
    const int64_t j0 = nb * kRows, cols = std::min<int64_t>(32, N - j0);
    if (cols <= 0) break;
    for (int64_t i0 = 0; i0 < M; i0 += kBlockRows) {
      const int64_t mb = i0 / kRows, row0 = i0 % kRows, rows = std::min(kBlockRows, M - i0);
      __m512 acc[kBlockRows][2];
      for (auto& r : acc) r[0] = r[1] = _mm512_setzero_ps();
      for (int64_t kb = 0; kb < pk.KB; ++kb) {
        const __m512i* b0 = reinterpret_cast<const __m512i*>(pk.b_tile(nb, kb));
        const __m512i* b1 = reinterpret_cast<const __m512i*>(pk.b_tile(nb + 1, kb));
        const int32_t* a = reinterpret_cast<const int32_t*>(pk.a_tile(mb, kb)) + row0 * kRows;  // 16 pairs per row
        for (int64_t p = 0; p < kRows; ++p) {
          const __m512bh x0 = reinterpret_cast<__m512bh>(_mm512_load_si512(b0 + p));
          const __m512bh x1 = reinterpret_cast<__m512bh>(_mm512_load_si512(b1 + p));
          for (int64_t r = 0; r < kBlockRows; ++r) {
            const __m512bh pair = reinterpret_cast<__m512bh>(_mm512_set1_epi32(a[r * kRows + p]));
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], pair, x0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], pair, x1);
          }
        }
      }
      alignas(64) float block[kBlockRows * 32];
      for (int64_t r = 0; r < kBlockRows; ++r) {
        _mm512_store_ps(block + r * 32, acc[r][0]);
        _mm512_store_ps(block + r * 32 + 16, acc[r][1]);
      }
      store_block(C + i0 * ldc + j0, ldc, block, rows, cols, alpha, beta);
    }
  }
}

}  // namespace tg::cpu::bf16
