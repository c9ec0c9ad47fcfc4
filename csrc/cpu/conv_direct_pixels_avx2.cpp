// The pixel-lane direct convolution's tiles with AVX2 + FMA (see conv_direct_pixels.h;
// this file gets -mavx2 -mfma). Accumulators are named variables, as in conv_direct_avx2.cpp:
// an array of them ended up on the stack.
#include <immintrin.h>

#include <algorithm>

#include "cpu/conv_direct_pixels.h"

namespace fastcnn::cpu::direct_pixels {

namespace {

// bias + acc, relu'd if asked, stored to `width` pixels (all 16 with plain stores).
inline void store_row(const TileArgs& t, int64_t k, __m256 lo, __m256 hi) {
  const __m256 b = _mm256_broadcast_ss(t.bias + k);
  lo = _mm256_add_ps(lo, b), hi = _mm256_add_ps(hi, b);
  if (t.relu) {
    // max(0, acc): NaN (the second operand) passes, as in the scalar epilogues.
    lo = _mm256_max_ps(_mm256_setzero_ps(), lo), hi = _mm256_max_ps(_mm256_setzero_ps(), hi);
  }
  float* dst = t.out + k * t.out_channel_stride;
  if (t.width == kPixels) {
    _mm256_storeu_ps(dst, lo), _mm256_storeu_ps(dst + 8, hi);
    return;
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int width = static_cast<int>(t.width);
  _mm256_maskstore_ps(dst, _mm256_cmpgt_epi32(_mm256_set1_epi32(width), lane), lo);
  _mm256_maskstore_ps(dst + 8, _mm256_cmpgt_epi32(_mm256_set1_epi32(width - 8), lane), hi);
}

}  // namespace

void tile_avx2(const TileArgs& t) {
  static_assert(kChannels == 6 && kPixels == 16, "the register tile below is written out for 6 x 16");
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t c = 0; c < t.channels; ++c) {
    for (int64_t r = t.row_begin; r < t.row_end; ++r) {
      const float* x = t.input + c * t.channel_stride + r * t.dilation_h * t.row_stride;
      const float* w = t.weights + (c * t.kernel_h + r) * t.kernel_w * kChannels;
      for (int64_t s = 0; s < t.kernel_w; ++s, x += t.dilation_w, w += kChannels) {
        const __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8);
        __m256 a = _mm256_broadcast_ss(w);
        c00 = _mm256_fmadd_ps(a, x0, c00), c01 = _mm256_fmadd_ps(a, x1, c01);
        a = _mm256_broadcast_ss(w + 1);
        c10 = _mm256_fmadd_ps(a, x0, c10), c11 = _mm256_fmadd_ps(a, x1, c11);
        a = _mm256_broadcast_ss(w + 2);
        c20 = _mm256_fmadd_ps(a, x0, c20), c21 = _mm256_fmadd_ps(a, x1, c21);
        a = _mm256_broadcast_ss(w + 3);
        c30 = _mm256_fmadd_ps(a, x0, c30), c31 = _mm256_fmadd_ps(a, x1, c31);
        a = _mm256_broadcast_ss(w + 4);
        c40 = _mm256_fmadd_ps(a, x0, c40), c41 = _mm256_fmadd_ps(a, x1, c41);
        a = _mm256_broadcast_ss(w + 5);
        c50 = _mm256_fmadd_ps(a, x0, c50), c51 = _mm256_fmadd_ps(a, x1, c51);
      }
    }
  }
  const int64_t n = t.channels_out;
  store_row(t, 0, c00, c01);
  if (n > 1) store_row(t, 1, c10, c11);
  if (n > 2) store_row(t, 2, c20, c21);
  if (n > 3) store_row(t, 3, c30, c31);
  if (n > 4) store_row(t, 4, c40, c41);
  if (n > 5) store_row(t, 5, c50, c51);
}

void weight_tile_avx2(const WeightTileArgs& t) {
  static_assert(kChannels == 6 && kTaps == 2 && kLanes == 8, "the register tile below is written out for 2 x 6");
  float* acc = t.acc;
  __m256 a00 = _mm256_loadu_ps(acc), a01 = _mm256_loadu_ps(acc + 8), a02 = _mm256_loadu_ps(acc + 16);
  __m256 a03 = _mm256_loadu_ps(acc + 24), a04 = _mm256_loadu_ps(acc + 32), a05 = _mm256_loadu_ps(acc + 40);
  __m256 a10 = _mm256_loadu_ps(acc + 48), a11 = _mm256_loadu_ps(acc + 56), a12 = _mm256_loadu_ps(acc + 64);
  __m256 a13 = _mm256_loadu_ps(acc + 72), a14 = _mm256_loadu_ps(acc + 80), a15 = _mm256_loadu_ps(acc + 88);
  const int64_t plane = t.out_h * t.out_w, last = t.grad_channels - 1;
  const float* g0 = t.grad;
  const float* g1 = t.grad + std::min<int64_t>(1, last) * plane;
  const float* g2 = t.grad + std::min<int64_t>(2, last) * plane;
  const float* g3 = t.grad + std::min<int64_t>(3, last) * plane;
  const float* g4 = t.grad + std::min<int64_t>(4, last) * plane;
  const float* g5 = t.grad + std::min<int64_t>(5, last) * plane;
  const int64_t full = t.out_w / kLanes * kLanes;
  const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(t.out_w - full)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (int64_t oh = 0; oh < t.out_h; ++oh) {
    const float* x0 = t.image + t.tap_offsets[0] + oh * t.row_step;
    const float* x1 = t.image + t.tap_offsets[1] + oh * t.row_step;
    const int64_t row = oh * t.out_w;
    for (int64_t v = row; v < row + full; v += kLanes, x0 += kLanes, x1 += kLanes) {
      const __m256 p = _mm256_loadu_ps(x0), q = _mm256_loadu_ps(x1);
      __m256 gk = _mm256_loadu_ps(g0 + v);
      a00 = _mm256_fmadd_ps(p, gk, a00), a10 = _mm256_fmadd_ps(q, gk, a10);
      gk = _mm256_loadu_ps(g1 + v);
      a01 = _mm256_fmadd_ps(p, gk, a01), a11 = _mm256_fmadd_ps(q, gk, a11);
      gk = _mm256_loadu_ps(g2 + v);
      a02 = _mm256_fmadd_ps(p, gk, a02), a12 = _mm256_fmadd_ps(q, gk, a12);
      gk = _mm256_loadu_ps(g3 + v);
      a03 = _mm256_fmadd_ps(p, gk, a03), a13 = _mm256_fmadd_ps(q, gk, a13);
      gk = _mm256_loadu_ps(g4 + v);
      a04 = _mm256_fmadd_ps(p, gk, a04), a14 = _mm256_fmadd_ps(q, gk, a14);
      gk = _mm256_loadu_ps(g5 + v);
      a05 = _mm256_fmadd_ps(p, gk, a05), a15 = _mm256_fmadd_ps(q, gk, a15);
    }
    if (full < t.out_w) {
      const int64_t v = row + full;
      const __m256 p = _mm256_maskload_ps(x0, tail), q = _mm256_maskload_ps(x1, tail);
      __m256 gk = _mm256_maskload_ps(g0 + v, tail);
      a00 = _mm256_fmadd_ps(p, gk, a00), a10 = _mm256_fmadd_ps(q, gk, a10);
      gk = _mm256_maskload_ps(g1 + v, tail);
      a01 = _mm256_fmadd_ps(p, gk, a01), a11 = _mm256_fmadd_ps(q, gk, a11);
      gk = _mm256_maskload_ps(g2 + v, tail);
      a02 = _mm256_fmadd_ps(p, gk, a02), a12 = _mm256_fmadd_ps(q, gk, a12);
      gk = _mm256_maskload_ps(g3 + v, tail);
      a03 = _mm256_fmadd_ps(p, gk, a03), a13 = _mm256_fmadd_ps(q, gk, a13);
      gk = _mm256_maskload_ps(g4 + v, tail);
      a04 = _mm256_fmadd_ps(p, gk, a04), a14 = _mm256_fmadd_ps(q, gk, a14);
      gk = _mm256_maskload_ps(g5 + v, tail);
      a05 = _mm256_fmadd_ps(p, gk, a05), a15 = _mm256_fmadd_ps(q, gk, a15);
    }
  }
  _mm256_storeu_ps(acc, a00), _mm256_storeu_ps(acc + 8, a01), _mm256_storeu_ps(acc + 16, a02);
  _mm256_storeu_ps(acc + 24, a03), _mm256_storeu_ps(acc + 32, a04), _mm256_storeu_ps(acc + 40, a05);
  _mm256_storeu_ps(acc + 48, a10), _mm256_storeu_ps(acc + 56, a11), _mm256_storeu_ps(acc + 64, a12);
  _mm256_storeu_ps(acc + 72, a13), _mm256_storeu_ps(acc + 80, a14), _mm256_storeu_ps(acc + 88, a15);
}

}  // namespace fastcnn::cpu::direct_pixels
