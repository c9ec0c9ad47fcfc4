// Loads of 8 floats from a row, zero outside it, and the split of 16 into even and odd
// ones, for files built with -mavx2 only.
// Internal header; its functions have internal linkage, so no AVX2 code can leak into a
// portable file through the linker's choice among copies of an inline function.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace fastcnn::cpu {
namespace {

// Lanes whose index first + lane lies in [0, limit).
inline __m256i range_mask(int64_t first, int64_t limit) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);  // not a global: no AVX at load time
  const __m256i index = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(first)), lanes);
  return _mm256_and_si256(_mm256_cmpgt_epi32(index, _mm256_set1_epi32(-1)),
                          _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(limit)), index));
}

// row[first .. first + 8), zero for the columns outside [0, width): a plain load where all
// 8 are inside; else one load from inside the row, shifted into place by a lane permute
// and masked. Masked loads cost about 30 cycles each on AMD cores, and were a third of
// the time of the loops that took one at each row's ends. A row shorter than 8 is read 8
// floats long where `may_overread` says that is safe, else with a masked load.
inline __m256 load_padded(const float* row, int64_t width, int64_t first, bool may_overread) {
  if (first >= 0 && first + 8 <= width) return _mm256_loadu_ps(row + first);
  if (first >= width || first + 8 <= 0) return _mm256_setzero_ps();
  const __m256i valid = range_mask(first, width);
  if (width < 8 && !may_overread) return _mm256_maskload_ps(row + first, valid);
  const int64_t load_at = std::clamp<int64_t>(first, 0, std::max<int64_t>(width - 8, 0));
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i shift = _mm256_add_epi32(lanes, _mm256_set1_epi32(static_cast<int>(first - load_at)));
  return _mm256_and_ps(_mm256_permutevar8x32_ps(_mm256_loadu_ps(row + load_at), shift), _mm256_castsi256_ps(valid));
}

// The even and odd floats of lo:hi (16 in a row), each 8 in order.
inline void split_even_odd(__m256 lo, __m256 hi, __m256& even, __m256& odd) {
  // shuffle: [l0 l2 h0 h2 | l4 l6 h4 h6]; the 64-bit permute restores column order.
  even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))), 0xD8));
  odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))), 0xD8));
}

}  // namespace
}  // namespace fastcnn::cpu
