// AVX2 horizontal passes of average pooling (see pool_avg.cpp), stride 1 and 2, on row
// buffers in padded coordinates with zeros around (so no edge cases here).
//   hsum:     out[o] = sum_{j < k} row[o * stride + j]
//             stride 1: k unaligned loads per 8 outputs; stride 2: 16 floats loaded and
//             split into even lanes (column j) and odd lanes (column j + 1).
//   hscatter: out[w] = sum of col[i] over the outputs i whose window covers w + offset
//             stride 1: k shifted loads; stride 2: 16 cells at a time, even cells summing
//             col[a - m] over even window columns 2m, odd cells over odd ones 2m + 1,
//             then the two sums interleaved.
// And whole planes of 2x2 stride-2 windows that tile the input (LeNet's pools): forward
// adds the two rows, then even and odd columns; backward spreads each g / divisor over
// its window with two interleaving shuffles.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "cpu/pool_kernels.h"

namespace fastcnn::cpu {
namespace {

inline void deinterleave(const float* src, __m256& even, __m256& odd) {
  const __m256 a = _mm256_loadu_ps(src), b = _mm256_loadu_ps(src + 8);
  // Within 128-bit halves: [a0 a2 b0 b2 | a4 a6 b4 b6]; then the 64-bit quarters 0 2 1 3.
  even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
  odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

template <int Stride>
inline __m256 hsum_vector(const float* row, int64_t k) {
  __m256 sum = _mm256_setzero_ps();
  if (Stride == 1) {
    for (int64_t j = 0; j < k; ++j) sum = _mm256_add_ps(sum, _mm256_loadu_ps(row + j));
  } else {
    for (int64_t j = 0; j < k; j += 2) {
      __m256 even, odd;
      deinterleave(row + j, even, odd);
      sum = _mm256_add_ps(sum, even);
      if (j + 1 < k) sum = _mm256_add_ps(sum, odd);
    }
  }
  return sum;
}

template <int Stride>
void hsum(const float* row, int64_t k, int64_t count, float* out) {
  int64_t o = 0;
  for (; o + 8 <= count; o += 8) _mm256_storeu_ps(out + o, hsum_vector<Stride>(row + o * Stride, k));
  if (o < count && count >= 8) {  // last 8, overlapping the previous vector: same values
    _mm256_storeu_ps(out + count - 8, hsum_vector<Stride>(row + (count - 8) * Stride, k));
    o = count;
  }
  for (; o < count; ++o) {
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) sum += row[o * Stride + j];
    out[o] = sum;
  }
}

inline float hscatter_cell(const float* col, int64_t k, int64_t stride, int64_t u) {
  float sum = 0.0f;
  for (int64_t i = (u - k + stride) / stride; i <= u / stride; ++i) sum += col[i];
  return sum;
}

void hscatter1(const float* col, int64_t k, int64_t offset, int64_t count, float* out) {
  // out[w] = sum_{j < k} col[w + offset - j]; offset >= k - 1.
  const float* base = col + offset - (k - 1);
  int64_t w = 0;
  auto vector = [&](int64_t at) {
    __m256 sum = _mm256_setzero_ps();
    for (int64_t j = 0; j < k; ++j) sum = _mm256_add_ps(sum, _mm256_loadu_ps(base + at + j));
    _mm256_storeu_ps(out + at, sum);
  };
  for (; w + 8 <= count; w += 8) vector(w);
  if (w < count && count >= 8) vector(count - 8), w = count;  // overlaps: same values
  for (; w < count; ++w) out[w] = hscatter_cell(col, k, 1, w + offset);
}

void hscatter2(const float* col, int64_t k, int64_t offset, int64_t count, float* out) {
  int64_t w = 0;
  if ((offset & 1) != 0 && count > 0) out[w] = hscatter_cell(col, k, 2, offset), ++w;  // start on an even cell
  // 16 cells from `at` (at + offset even).
  auto vector = [&](int64_t at) {
    const float* a = col + (at + offset) / 2;  // cell 2a + t: t even <- col[a + t/2 - m], odd <- col[a + (t-1)/2 - m]
    __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
    for (int64_t m = 0; 2 * m < k; ++m) {
      const __m256 v = _mm256_loadu_ps(a - m);
      even = _mm256_add_ps(even, v);
      if (2 * m + 1 < k) odd = _mm256_add_ps(odd, v);
    }
    const __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
    _mm256_storeu_ps(out + at, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(out + at + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
  };
  for (; w + 16 <= count; w += 16) vector(w);
  if (w < count && w >= 16) {  // last 16 on an even cell, overlapping: same values
    const int64_t last = count - 16 - ((count - 16 + offset) & 1);
    vector(last);
    w = last + 16;
  }
  for (; w < count; ++w) out[w] = hscatter_cell(col, k, 2, w + offset);
}

inline __m256 even_lanes(__m256 a, __m256 b) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
}

inline __m256 odd_lanes(__m256 a, __m256 b) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

// 8 outputs of a 2x2 stride-2 window row from input rows r0, r1 at column 2 * ow.
inline __m256 avg_2x2_vector(const float* r0, const float* r1, __m256 divisor) {
  const __m256 lo = _mm256_add_ps(_mm256_loadu_ps(r0), _mm256_loadu_ps(r1));
  const __m256 hi = _mm256_add_ps(_mm256_loadu_ps(r0 + 8), _mm256_loadu_ps(r1 + 8));
  return _mm256_div_ps(_mm256_add_ps(even_lanes(lo, hi), odd_lanes(lo, hi)), divisor);
}

// g / divisor for 8 outputs, each written to 2 neighbouring cells of both input rows.
inline void spread_2x2_vector(const float* g, __m256 divisor, float* row0, float* row1) {
  const __m256 v = _mm256_div_ps(_mm256_loadu_ps(g), divisor);
  const __m256 lo = _mm256_unpacklo_ps(v, v), hi = _mm256_unpackhi_ps(v, v);  // v0 v0 v1 v1 | v4 v4 v5 v5, ...
  const __m256 first = _mm256_permute2f128_ps(lo, hi, 0x20), second = _mm256_permute2f128_ps(lo, hi, 0x31);
  _mm256_storeu_ps(row0, first), _mm256_storeu_ps(row0 + 8, second);
  _mm256_storeu_ps(row1, first), _mm256_storeu_ps(row1 + 8, second);
}

}  // namespace

// Rows of 8+ outputs end with a vector that overlaps the previous one (same values);
// narrower rows are scalar, in the same order of additions.
void avg_forward_2x2_plane_avx2(const float* x, int64_t in_w, int64_t out_h, int64_t out_w, float divisor,
                                float* y) {
  const __m256 d = _mm256_set1_ps(divisor);
  for (int64_t oh = 0; oh < out_h; ++oh) {
    const float* r0 = x + 2 * oh * in_w;
    const float* r1 = r0 + in_w;
    float* out = y + oh * out_w;
    if (out_w < 8) {
      for (int64_t ow = 0; ow < out_w; ++ow) {
        out[ow] = ((r0[2 * ow] + r1[2 * ow]) + (r0[2 * ow + 1] + r1[2 * ow + 1])) / divisor;
      }
      continue;
    }
    for (int64_t ow = 0; ow < out_w; ow += 8) {
      const int64_t at = std::min(ow, out_w - 8);
      _mm256_storeu_ps(out + at, avg_2x2_vector(r0 + 2 * at, r1 + 2 * at, d));
    }
  }
}

void avg_backward_2x2_plane_avx2(const float* g, int64_t out_h, int64_t out_w, int64_t in_h, int64_t in_w,
                                 float divisor, float* gin) {
  const __m256 d = _mm256_set1_ps(divisor);
  for (int64_t oh = 0; oh < out_h; ++oh) {
    const float* g_row = g + oh * out_w;
    float* row0 = gin + 2 * oh * in_w;
    float* row1 = row0 + in_w;
    if (out_w < 8) {
      for (int64_t ow = 0; ow < out_w; ++ow) {
        const float v = g_row[ow] / divisor;
        row0[2 * ow] = row0[2 * ow + 1] = row1[2 * ow] = row1[2 * ow + 1] = v;
      }
    } else {
      for (int64_t ow = 0; ow < out_w; ow += 8) {
        const int64_t at = std::min(ow, out_w - 8);
        spread_2x2_vector(g_row + at, d, row0 + 2 * at, row1 + 2 * at);
      }
    }
    for (int64_t w = 2 * out_w; w < in_w; ++w) row0[w] = row1[w] = 0.0f;  // a last odd column
  }
  std::fill(gin + 2 * out_h * in_w, gin + in_h * in_w, 0.0f);  // a last odd row
}

void avg_hsum_avx2(const float* row, int64_t k, int64_t stride, int64_t count, float* out) {
  if (stride == 1) {
    hsum<1>(row, k, count, out);
  } else {
    hsum<2>(row, k, count, out);
  }
}

void avg_hscatter_avx2(const float* col, int64_t k, int64_t stride, int64_t offset, int64_t count, float* out) {
  if (stride == 1) {
    hscatter1(col, k, offset, count, out);
  } else {
    hscatter2(col, k, offset, count, out);
  }
}

}  // namespace fastcnn::cpu
