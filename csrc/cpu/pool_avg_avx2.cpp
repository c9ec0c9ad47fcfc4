// AVX2 horizontal passes of average pooling (see pool_avg.cpp), stride 1 and 2, on row
// buffers in padded coordinates with zeros around (so no edge cases here).
//   hsum:     out[o] = sum_{j < k} row[o * stride + j]
//             stride 1: k unaligned loads per 8 outputs; stride 2: 16 floats loaded and
//             split into even lanes (column j) and odd lanes (column j + 1).
//   hscatter: out[w] = sum of col[i] over the outputs i whose window covers w + offset
//             stride 1: k shifted loads; stride 2: 16 cells at a time, even cells summing
//             col[a - m] over even window columns 2m, odd cells over odd ones 2m + 1,
//             then the two sums interleaved.
#include <immintrin.h>

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

}  // namespace

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
