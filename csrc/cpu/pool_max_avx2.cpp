// AVX2 row kernel of max pooling (values and torch's indices), NCHW float32, one (n, c)
// plane at a time.
// Eight adjacent outputs of a row form one vector; for window column j their inputs are
//   stride 1: x[iw0 + j + lane]        (one unaligned load)
//   stride 2: x[iw0 + j + 2 * lane]    (16 loaded, even lanes kept; the odd lanes are column
//                                       j + 1, so one load serves two window columns)
// Rows of the window are plain loops (any vertical stride, padding or dilation). Outputs
// whose window crosses the left/right edge, or would read past the row, use the scalar
// max_pool_cell of pool_kernels.h, so results are identical to the portable path's.
#include <immintrin.h>

#include <algorithm>
#include <limits>

#include "cpu/pool_kernels.h"

namespace fastcnn::cpu {
namespace {

// The even (columns j, j+2, ...) and odd lanes of the 16 floats at src.
inline void deinterleave(const float* src, __m256& even, __m256& odd) {
  const __m256 a = _mm256_loadu_ps(src), b = _mm256_loadu_ps(src + 8);
  // Within 128-bit halves: [a0 a2 b0 b2 | a4 a6 b4 b6]; then the 64-bit quarters 0 2 1 3.
  even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
  odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

// Last column a vector of 8 outputs starting at input column iw0 reads, minus iw0.
inline int64_t reach(int64_t stride, int64_t kernel_w) {
  return stride == 1 ? kernel_w + 6 : 2 * ((kernel_w + 1) / 2 - 1) + 15;
}

// Outputs [lo, hi_start + 8) of a row may be computed by vectors starting at any ow0 in
// [lo, hi_start]: their windows lie inside the row and reads stay within it.
struct VectorSpan {
  int64_t lo, hi_start;
};

inline VectorSpan vector_span(const Pool2dParams& p, int64_t reach_offset) {
  VectorSpan span;
  span.lo = (p.pad_w + p.stride_w - 1) / p.stride_w;
  const int64_t room = p.in_w - 1 - reach_offset + p.pad_w;
  span.hi_start = room < 0 ? -1 : std::min(room / p.stride_w, p.out_w - 8);
  return span;
}

// ---- max ----------------------------------------------------------------------------

struct MaxState {
  __m256 best;
  __m256i index;
};

// torch's rule per lane: replace when v > best or v is NaN.
inline void max_update(MaxState& s, __m256 v, __m256i index) {
  const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, s.best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  s.best = _mm256_blendv_ps(s.best, v, take);
  s.index = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(s.index), _mm256_castsi256_ps(index), take));
}

template <int Stride>
void max_vector(const Pool2dParams& p, const float* x, int64_t h0, int64_t h1, int64_t ow0, float* y,
                int64_t* index) {
  const int64_t iw0 = ow0 * Stride - p.pad_w, kw = p.kernel_w, w = p.in_w;
  const __m256i lane = Stride == 1 ? _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
                                   : _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  MaxState s{_mm256_set1_ps(-std::numeric_limits<float>::infinity()),
             _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(h0 * w + iw0)), lane)};
  for (int64_t h = h0; h < h1; h += p.dilation_h) {
    const float* row = x + h * w + iw0;
    const __m256i base = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(h * w + iw0)), lane);
    if (Stride == 1) {
      for (int64_t j = 0; j < kw; ++j)
        max_update(s, _mm256_loadu_ps(row + j), _mm256_add_epi32(base, _mm256_set1_epi32(static_cast<int>(j))));
    } else {
      for (int64_t j = 0; j < kw; j += 2) {
        __m256 even, odd;
        deinterleave(row + j, even, odd);
        const __m256i at = _mm256_add_epi32(base, _mm256_set1_epi32(static_cast<int>(j)));
        max_update(s, even, at);
        if (j + 1 < kw) max_update(s, odd, _mm256_add_epi32(at, _mm256_set1_epi32(1)));
      }
    }
  }
  _mm256_storeu_ps(y, s.best);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(index), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(s.index)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(index + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(s.index, 1)));
}

template <int Stride>
void max_rows(const Pool2dParams& p, const float* x, float* y, int64_t* index, int64_t oh_begin, int64_t oh_end) {
  const VectorSpan span = vector_span(p, reach(Stride, p.kernel_w));
  for (int64_t oh = oh_begin; oh < oh_end; ++oh) {
    float* y_row = y + oh * p.out_w;
    int64_t* index_row = index + oh * p.out_w;
    int64_t h0 = oh * p.stride_h - p.pad_h;
    const int64_t h1 = std::min(h0 + (p.kernel_h - 1) * p.dilation_h + 1, p.in_h);
    while (h0 < 0) h0 += p.dilation_h;
    int64_t done = 0;
    if (h0 < h1 && span.hi_start >= span.lo) {
      for (; done < span.lo; ++done) max_pool_cell(p, x, oh, done, y_row + done, index_row + done);
      for (; done <= span.hi_start; done += 8)
        max_vector<Stride>(p, x, h0, h1, done, y_row + done, index_row + done);
      // The last vector may overlap the previous one: it rewrites the same values.
      if (done < span.hi_start + 8) {
        max_vector<Stride>(p, x, h0, h1, span.hi_start, y_row + span.hi_start, index_row + span.hi_start);
        done = span.hi_start + 8;
      }
    }
    for (; done < p.out_w; ++done) max_pool_cell(p, x, oh, done, y_row + done, index_row + done);
  }
}

}  // namespace

bool max_pool2d_avx2_supported(const Pool2dParams& p) {
  // Indices are tracked as int32 lanes.
  return (p.stride_w == 1 || p.stride_w == 2) && p.dilation_w == 1 && p.out_w >= 8 &&
         p.in_h * p.in_w < (int64_t{1} << 31);
}

void max_pool2d_rows_avx2(const Pool2dParams& p, const float* x, float* y, int64_t* index, int64_t oh_begin,
                          int64_t oh_end) {
  if (p.stride_w == 1) {
    max_rows<1>(p, x, y, index, oh_begin, oh_end);
  } else {
    max_rows<2>(p, x, y, index, oh_begin, oh_end);
  }
}

}  // namespace fastcnn::cpu
