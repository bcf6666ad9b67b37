// Winograd F(4x4, 3x3), the output side (see winograd_tiles.h): out = A^T M A of the 4x4 output
// tiles with the conv's epilogue (bias, ReLU, 2x2 max pool) stored into NCHW planes, and
// E = A dY A^T of the 4x4 dout tiles gathered from them, 16 tiles at a time.
#include "engine/cpu/kernels/winograd_tiles.h"

#include <algorithm>
#include <vector>

namespace tg::cpu::TG_ISA_NS::winograd {
namespace {

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

}  // namespace

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

}  // namespace tg::cpu::TG_ISA_NS::winograd
