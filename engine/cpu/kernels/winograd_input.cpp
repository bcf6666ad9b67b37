// Winograd F(4x4, 3x3), the input side (see winograd_tiles.h): V = B^T d B of the 6x6 input tiles,
// gathered 16 tiles at a time from NCHW planes, and its adjoint, din += B dV B^T, scattered back
// in tile order (so the sums, and their rounding, do not depend on the thread count).
#include "engine/cpu/kernels/winograd_tiles.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/kernels/simd_transpose.h"

namespace tg::cpu::TG_ISA_NS::winograd {
namespace {

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

// din[n, c, h0 + i, w0 + j] += dd[(i*6 + j)*kL + l] for lane l's tile, inside the image, lanes in
// order (a fixed order of the sums, whatever the thread count), where din starts as 0 without being
// cleared: tiles come in raster order per image and channel, 6x6 blocks 4 apart, so a tile's rows
// 0, 1 hold the tile row above's rows 4, 5 (when it is not the first tile row) and its columns 0, 1
// the left neighbour's columns 4, 5 (when it is not the first tile column and that neighbour stored
// them); everything else it touches first. What it touches first is read as +0.0 (a zeroing mask),
// the value a cleared din would give: the same sums and bits, without a pass that writes all of
// din (clearing it took 15% of a 32 -> 32 input gradient on one thread; without it that pass runs
// 4-8% faster, the first stores now paying for fetching the lines).
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
  bool carried = false;  // the previous lane kept its columns 4, 5 in carry[] for this one
  for (int64_t l = 0; l < kL && ln.n[l] >= 0; ++l) {
    const int64_t h0 = ln.p0[l] - s.pad_h, w0 = ln.q0[l] - s.pad_w;
    const int64_t lo = std::max<int64_t>(0, -w0), hi = std::min(kA, s.W - w0);  // columns inside: [lo, hi)
    const bool right_is_next =
        l + 1 < kL && ln.n[l + 1] == ln.n[l] && ln.p0[l + 1] == ln.p0[l] && ln.q0[l + 1] == ln.q0[l] + kM;
    const bool below_first_row = ln.p0[l] > 0;              // rows 0, 1 already written (from above)
    const bool left_stored = ln.q0[l] > 0 && !carried;      // columns 0, 1 already written (from the left)
    float* plane = din + (ln.n[l] * s.C + c) * HW;
    for (int64_t i = std::max<int64_t>(0, -h0); i < std::min(kA, s.H - h0); ++i) {
      float* row = plane + (h0 + i) * s.W + w0;  // row[j] = column j of the tile
      const bool row_written = below_first_row && i < 2;
      const __m128 left = _mm_load_ps(lane_row(i, l));  // columns 0..3
      if (lo == 0 && hi >= 4) {
        // din's columns 0..3 where already written (all of a written row, else 0, 1 if stored from
        // the left), +0.0 elsewhere: a bit mask on the plain load and store this path always had
        // (masked loads and stores here too measured +2-5% on a 32 -> 32 input gradient, this +4-8%).
        const __m128 written = _mm_castsi128_ps(row_written   ? _mm_set1_epi32(-1)
                                                : left_stored ? _mm_setr_epi32(-1, -1, 0, 0)
                                                              : _mm_setzero_si128());
        const __m128 old = _mm_and_ps(_mm_loadu_ps(row), written);
        _mm_storeu_ps(row, _mm_add_ps(_mm_add_ps(old, carry[i]), left));
      } else {
#if defined(TG_WINOGRAD_AVX512)
        const Mask16 written = row_written ? Mask16{0xf} : (left_stored ? Mask16{0x3} : Mask16{0});
        const Mask16 inside = static_cast<Mask16>(first_lanes(std::min<int64_t>(4, hi)) & ~first_lanes(lo));
        masked_store4(row, inside, _mm_add_ps(_mm_add_ps(masked_load4(inside & written, row), carry[i]), left));
#else
        alignas(16) float v[4], cv[4];
        _mm_store_ps(v, left);
        _mm_store_ps(cv, carry[i]);
        for (int64_t j = lo; j < std::min<int64_t>(4, hi); ++j) {
          const float old = row_written || (left_stored && j < 2) ? row[j] : 0.f;
          row[j] = (old + cv[j]) + v[j];
        }
#endif
      }
      const __m128 right = _mm_load_ps(lane_row(i, l) + 4);  // columns 4, 5 (then two zeros)
      if (right_is_next) {
        carry[i] = right;
      } else {  // columns 4, 5: written before only in a written row (the right neighbour comes later)
#if defined(TG_WINOGRAD_AVX512)
        const Mask16 inside = first_lanes(hi - 4);
        const Mask16 written = row_written ? inside : Mask16{0};
        masked_store4(row + 4, inside, _mm_add_ps(masked_load4(written, row + 4), right));
#else
        alignas(16) float v[4];
        _mm_store_ps(v, right);
        for (int64_t j = 4; j < hi; ++j) row[j] = (row_written ? row[j] : 0.f) + v[j - 4];
#endif
        carry[i] = _mm_setzero_ps();
      }
    }
    carried = right_is_next;
  }
#else
  // Every lane stores all its columns (no carry): columns 0, 1 of a tile past the first tile column
  // hold the left neighbour's 4, 5, rows 0, 1 of a tile row past the first the row above's 4, 5.
  for (int64_t l = 0; l < kL; ++l) {
    if (ln.n[l] < 0) break;
    const int64_t h0 = ln.p0[l] - s.pad_h, w0 = ln.q0[l] - s.pad_w;
    float* plane = din + (ln.n[l] * s.C + c) * HW;
    const int64_t i0 = std::max<int64_t>(0, -h0), i1 = std::min(kA, s.H - h0);
    const int64_t j_lo = std::max<int64_t>(0, -w0), j_hi = std::min(kA, s.W - w0);
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = j_lo; j < j_hi; ++j) {
        float& d = plane[(h0 + i) * s.W + w0 + j];
        const bool written = (ln.p0[l] > 0 && i < 2) || (ln.q0[l] > 0 && j < 2);
        d = (written ? d : 0.f) + dd[(i * kA + j) * kL + l];
      }
  }
#endif
}

}  // namespace

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

}  // namespace tg::cpu::TG_ISA_NS::winograd
