// Global average pooling with AVX2: the mean of each of many small contiguous planes (a
// ResNet head: 64 x 2048 planes of 7 x 7). A plane is too short for a vector loop of its
// own to pay (49 floats: 6 vectors and a tail), so 8 planes are summed side by side, each
// into one vector accumulator, and the 8 accumulators are reduced together by a tree of
// horizontal adds whose last step yields the 8 means in one vector.
#include <immintrin.h>

#include <cstdint>

#include "cpu/pool_kernels.h"

namespace fastcnn::cpu {
namespace {

// The last `tail` (1..7) lanes set: they pick a plane's remainder out of a vector loaded
// to end at the plane's end, the other lanes repeating floats already summed.
__m256 tail_mask(int64_t tail) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32(static_cast<int>(7 - tail))));
}

// Vector j of `partials`: the 8 partial sums of plane j of the 8 at x. The loop walks the
// 8 planes in step, so their 8 dependency chains interleave (20% faster than plane after
// plane); the tail adds the floats past the last whole vector, read by a load that ends at
// the plane's end.
inline void partial_sums_of_8(const float* x, int64_t plane_size, int64_t whole, __m256 tail, bool has_tail,
                              __m256 (&partials)[8]) {
  for (int j = 0; j < 8; ++j) partials[j] = _mm256_loadu_ps(x + j * plane_size);
  for (int64_t i = 8; i < whole; i += 8) {
    for (int j = 0; j < 8; ++j) partials[j] = _mm256_add_ps(partials[j], _mm256_loadu_ps(x + j * plane_size + i));
  }
  if (!has_tail) return;
  for (int j = 0; j < 8; ++j) {
    const __m256 last = _mm256_loadu_ps(x + (j + 1) * plane_size - 8);
    partials[j] = _mm256_add_ps(partials[j], _mm256_and_ps(tail, last));
  }
}

// One plane's partial sums, in partial_sums_of_8's order.
inline __m256 partial_sums(const float* x, int64_t plane_size, int64_t whole, __m256 tail, bool has_tail) {
  __m256 acc = _mm256_loadu_ps(x);
  for (int64_t i = 8; i < whole; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + i));
  if (has_tail) acc = _mm256_add_ps(acc, _mm256_and_ps(tail, _mm256_loadu_ps(x + plane_size - 8)));
  return acc;
}

// Lane j of the result: the sum of the 8 lanes of a[j].
inline __m256 reduce_8(const __m256 (&a)[8]) {
  const __m256 s01 = _mm256_hadd_ps(a[0], a[1]), s23 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 s45 = _mm256_hadd_ps(a[4], a[5]), s67 = _mm256_hadd_ps(a[6], a[7]);
  // Per 128-bit half: the sums of a[0..3] (t0) and a[4..7] (t1) over that half's lanes.
  const __m256 t0 = _mm256_hadd_ps(s01, s23), t1 = _mm256_hadd_ps(s45, s67);
  return _mm256_add_ps(_mm256_permute2f128_ps(t0, t1, 0x20), _mm256_permute2f128_ps(t0, t1, 0x31));
}

// The sum of v's lanes in reduce_8's order, so a plane's mean does not depend on whether
// it was one of 8 or left over (which moves with the thread split).
inline float horizontal_sum(__m256 v) {
  const __m256 pairs = _mm256_hadd_ps(v, v);
  const __m256 quads = _mm256_hadd_ps(pairs, pairs);
  return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(quads), _mm256_extractf128_ps(quads, 1)));
}

}  // namespace

void global_avg_pool_planes_avx2(const float* x, int64_t planes, int64_t plane_size, float* y) {
  const int64_t whole = plane_size / 8 * 8;
  const bool has_tail = whole != plane_size;
  const __m256 tail = tail_mask(plane_size - whole);
  const float count = static_cast<float>(plane_size);
  const __m256 counts = _mm256_set1_ps(count);
  int64_t plane = 0;
  for (; plane + 8 <= planes; plane += 8) {
    __m256 partials[8];
    partial_sums_of_8(x + plane * plane_size, plane_size, whole, tail, has_tail, partials);
    _mm256_storeu_ps(y + plane, _mm256_div_ps(reduce_8(partials), counts));
  }
  for (; plane < planes; ++plane) {
    y[plane] = horizontal_sum(partial_sums(x + plane * plane_size, plane_size, whole, tail, has_tail)) / count;
  }
}

}  // namespace fastcnn::cpu
