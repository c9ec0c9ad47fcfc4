// Winograd F(2x2, 3x3) row transforms with AVX2 (this file gets -mavx2 -mfma): 8 tiles
// of a tile row at once, one per lane. Tile tx's patch starts at input column 2*tx, so
// the column j of 8 neighbouring patches is every other input column: two 8-float loads
// deinterleaved into even and odd lanes give columns 0 and 1 of all 8 patches, the same
// from 2 columns further give columns 2 and 3. Loads are zero outside the input row
// (load_padded), so borders and padding need no separate path.
#include <immintrin.h>

#include <algorithm>

#include "cpu/avx2_row_loads.h"
#include "cpu/avx2_transpose.h"
#include "cpu/conv_winograd.h"

namespace fastcnn::cpu::winograd {

namespace {

// Even and odd columns of row[first .. first + 16), zero outside [0, width).
inline void deinterleave_load(const float* row, int64_t first, int64_t width, bool may_overread, __m256& even,
                              __m256& odd) {
  split_even_odd(load_padded(row, width, first, may_overread), load_padded(row, width, first + 8, may_overread), even,
                 odd);
}

inline void store_lanes(float* dst, __m256 value, int64_t valid) {
  if (valid >= 8) {
    _mm256_storeu_ps(dst, value);
  } else if (valid > 0) {
    _mm256_maskstore_ps(dst, range_mask(0, valid), value);
  }
}

}  // namespace

// 8 filter pairs (o, i..i+7) at a time, gathered tap by tap; the rest one by one.
void filters_avx2(const FilterSource& source, int64_t begin, int64_t end, int64_t pair_count, float* u) {
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i lane_offsets = _mm256_mullo_epi32(lanes, _mm256_set1_epi32(static_cast<int>(source.inner_stride)));
  int64_t pair = begin;
  while (pair < end) {
    const int64_t o = pair / source.inner, i = pair % source.inner;
    if (i + 8 > source.inner || pair + 8 > end) {  // a run that does not fill 8 lanes
      const int64_t stop = std::min(end, pair + std::min<int64_t>(8, source.inner - i));
      filters_ref(source, pair, stop, pair_count, u);
      pair = stop;
      continue;
    }
    const float* base = source.w + o * source.outer_stride + i * source.inner_stride;
    __m256 g[9];
    if (source.inner_stride == 9) {
      // 8 filters side by side in memory: taps 0-7 of each as a row of an 8x8 transpose,
      // tap 8 by scalar loads; gathers are slow on AMD cores.
      __m256 taps[9];
      for (int lane = 0; lane < 8; ++lane) taps[lane] = _mm256_loadu_ps(base + 9 * lane);
      transpose8x8(taps);
      taps[8] = _mm256_setr_ps(base[8], base[17], base[26], base[35], base[44], base[53], base[62], base[71]);
      for (int t = 0; t < 9; ++t) g[t] = taps[source.flip ? 8 - t : t];
    } else {
      for (int t = 0; t < 9; ++t) g[t] = _mm256_i32gather_ps(base + (source.flip ? 8 - t : t), lane_offsets, 4);
    }
    __m256 t[4][3];
    for (int j = 0; j < 3; ++j) {
      t[0][j] = g[j];
      t[1][j] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_add_ps(g[j], g[3 + j]), g[6 + j]));
      t[2][j] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_sub_ps(g[j], g[3 + j]), g[6 + j]));
      t[3][j] = g[6 + j];
    }
    for (int r = 0; r < 4; ++r) {
      _mm256_storeu_ps(u + (r * 4 + 0) * pair_count + pair, t[r][0]);
      _mm256_storeu_ps(u + (r * 4 + 1) * pair_count + pair,
                       _mm256_mul_ps(half, _mm256_add_ps(_mm256_add_ps(t[r][0], t[r][1]), t[r][2])));
      _mm256_storeu_ps(u + (r * 4 + 2) * pair_count + pair,
                       _mm256_mul_ps(half, _mm256_add_ps(_mm256_sub_ps(t[r][0], t[r][1]), t[r][2])));
      _mm256_storeu_ps(u + (r * 4 + 3) * pair_count + pair, t[r][2]);
    }
    pair += 8;
  }
}

void input_row_avx2(const float* plane, const TileRow& row, float* v, int64_t xi_stride) {
  for (int64_t tx = 0; tx < row.tiles_w; tx += 8) {
    const int64_t first = 2 * tx - row.pad_left;
    __m256 d[4][4];
    for (int i = 0; i < 4; ++i) {
      const int64_t ih = 2 * row.ty - row.pad_top + i;
      if (ih < 0 || ih >= row.in_h) {
        for (int j = 0; j < 4; ++j) d[i][j] = _mm256_setzero_ps();
        continue;
      }
      const float* input = plane + ih * row.in_w;
      const bool may_overread = ih * row.in_w + 8 <= row.in_h * row.in_w;  // 8 floats left in the plane
      deinterleave_load(input, first, row.in_w, may_overread, d[i][0], d[i][1]);
      deinterleave_load(input, first + 2, row.in_w, may_overread, d[i][2], d[i][3]);
    }
    __m256 t[4][4];  // B^T d
    for (int j = 0; j < 4; ++j) {
      t[0][j] = _mm256_sub_ps(d[0][j], d[2][j]);
      t[1][j] = _mm256_add_ps(d[1][j], d[2][j]);
      t[2][j] = _mm256_sub_ps(d[2][j], d[1][j]);
      t[3][j] = _mm256_sub_ps(d[1][j], d[3][j]);
    }
    for (int i = 0; i < 4; ++i) {  // (B^T d) B, 8 lanes even past the row's end (see InputRowFn)
      _mm256_storeu_ps(v + (i * 4 + 0) * xi_stride + tx, _mm256_sub_ps(t[i][0], t[i][2]));
      _mm256_storeu_ps(v + (i * 4 + 1) * xi_stride + tx, _mm256_add_ps(t[i][1], t[i][2]));
      _mm256_storeu_ps(v + (i * 4 + 2) * xi_stride + tx, _mm256_sub_ps(t[i][2], t[i][1]));
      _mm256_storeu_ps(v + (i * 4 + 3) * xi_stride + tx, _mm256_sub_ps(t[i][1], t[i][3]));
    }
  }
}

void output_row_avx2(const float* m_row, int64_t xi_stride, float bias, bool relu, const TileRow& row,
                     float* plane) {
  const __m256 bias_v = _mm256_set1_ps(bias), zero = _mm256_setzero_ps();
  for (int64_t tx = 0; tx < row.tiles_w; tx += 8) {
    const int64_t valid = row.tiles_w - tx;
    __m256 m[16];  // M holds exactly tiles_w tiles per row, and the workspace ends in slack
    for (int xi = 0; xi < 16; ++xi) m[xi] = load_padded(m_row + xi * xi_stride, row.tiles_w, tx, true);
    __m256 t[2][4];  // A^T m
    for (int j = 0; j < 4; ++j) {
      t[0][j] = _mm256_add_ps(_mm256_add_ps(m[j], m[4 + j]), m[8 + j]);
      t[1][j] = _mm256_sub_ps(_mm256_sub_ps(m[4 + j], m[8 + j]), m[12 + j]);
    }
    for (int i = 0; i < 2 && 2 * row.ty + i < row.out_h; ++i) {  // (A^T m) A, then 2 columns per tile
      __m256 left = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(t[i][0], t[i][1]), t[i][2]), bias_v);
      __m256 right = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(t[i][1], t[i][2]), t[i][3]), bias_v);
      // max(0, x) returns x when x is NaN, so NaN passes through as in torch.relu.
      if (relu) left = _mm256_max_ps(zero, left), right = _mm256_max_ps(zero, right);
      const __m256 lo = _mm256_unpacklo_ps(left, right), hi = _mm256_unpackhi_ps(left, right);
      float* out = plane + (2 * row.ty + i) * row.out_w + 2 * tx;
      const int64_t columns = row.out_w - 2 * tx;  // output columns left in this row
      store_lanes(out, _mm256_permute2f128_ps(lo, hi, 0x20), columns);
      store_lanes(out + 8, _mm256_permute2f128_ps(lo, hi, 0x31), columns - 8);
    }
  }
}

}  // namespace fastcnn::cpu::winograd
