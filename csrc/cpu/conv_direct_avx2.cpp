// The direct convolution's 6 x 16 tiles with AVX2 + FMA (this file gets -mavx2 -mfma):
// per filter tap, two 8-channel loads of packed weights and six broadcasts of input
// pixels feed 12 independent FMAs, as in the GEMM micro-kernel. The 12 accumulators are
// named variables, not an array: GCC kept an array of them on the stack, storing each one
// after every FMA, which halved the speed.
#include <immintrin.h>

#include "cpu/conv_direct.h"

namespace fastcnn::cpu::direct {

namespace {

// Pixels is 6, or 5 for rows of 5, 10, 20... outputs (LeNet's conv2: 10), where 6-pixel
// tiles would recompute a sixth of the row; the sixth pixel's code drops out for 5.
template <int Pixels>
void tile_impl(const TileArgs& t) {
  static_assert((Pixels == 6 || Pixels == 5) && kChannels == 16, "the register tile below is written out for 6 x 16");
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const float* w = t.weights;
  const int64_t sw = t.stride_w;
  for (int64_t c = 0; c < t.channels; ++c) {
    for (int64_t r = 0; r < t.kernel_h; ++r) {
      const float* row = t.input + c * t.channel_stride + r * t.dilation_h * t.row_stride;
      for (int64_t s = 0; s < t.kernel_w; ++s, w += kChannels) {
        const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
        const float* x = row + s * t.dilation_w;
        const float* x3 = x + 3 * sw;
        __m256 a = _mm256_broadcast_ss(x);
        c00 = _mm256_fmadd_ps(a, w0, c00), c01 = _mm256_fmadd_ps(a, w1, c01);
        a = _mm256_broadcast_ss(x + sw);
        c10 = _mm256_fmadd_ps(a, w0, c10), c11 = _mm256_fmadd_ps(a, w1, c11);
        a = _mm256_broadcast_ss(x + 2 * sw);
        c20 = _mm256_fmadd_ps(a, w0, c20), c21 = _mm256_fmadd_ps(a, w1, c21);
        a = _mm256_broadcast_ss(x3);
        c30 = _mm256_fmadd_ps(a, w0, c30), c31 = _mm256_fmadd_ps(a, w1, c31);
        a = _mm256_broadcast_ss(x3 + sw);
        c40 = _mm256_fmadd_ps(a, w0, c40), c41 = _mm256_fmadd_ps(a, w1, c41);
        if constexpr (Pixels == 6) {
          a = _mm256_broadcast_ss(x3 + 2 * sw);
          c50 = _mm256_fmadd_ps(a, w0, c50), c51 = _mm256_fmadd_ps(a, w1, c51);
        }
      }
    }
  }
  float* out = t.out;
  _mm256_storeu_ps(out + 0, c00), _mm256_storeu_ps(out + 8, c01);
  _mm256_storeu_ps(out + 16, c10), _mm256_storeu_ps(out + 24, c11);
  _mm256_storeu_ps(out + 32, c20), _mm256_storeu_ps(out + 40, c21);
  _mm256_storeu_ps(out + 48, c30), _mm256_storeu_ps(out + 56, c31);
  _mm256_storeu_ps(out + 64, c40), _mm256_storeu_ps(out + 72, c41);
  if constexpr (Pixels == 6) _mm256_storeu_ps(out + 80, c50), _mm256_storeu_ps(out + 88, c51);
}

}  // namespace

void tile_avx2(const TileArgs& t) { tile_impl<6>(t); }
void tile5_avx2(const TileArgs& t) { tile_impl<5>(t); }

void weight_tile_avx2(const WeightTileArgs& t) {
  static_assert(kTaps == 6 && kChannels == 16, "the register tile below is written out for 6 x 16");
  float* acc = t.acc;
  __m256 c00 = _mm256_loadu_ps(acc), c01 = _mm256_loadu_ps(acc + 8);
  __m256 c10 = _mm256_loadu_ps(acc + 16), c11 = _mm256_loadu_ps(acc + 24);
  __m256 c20 = _mm256_loadu_ps(acc + 32), c21 = _mm256_loadu_ps(acc + 40);
  __m256 c30 = _mm256_loadu_ps(acc + 48), c31 = _mm256_loadu_ps(acc + 56);
  __m256 c40 = _mm256_loadu_ps(acc + 64), c41 = _mm256_loadu_ps(acc + 72);
  __m256 c50 = _mm256_loadu_ps(acc + 80), c51 = _mm256_loadu_ps(acc + 88);
  const int64_t o0 = t.tap_offsets[0], o1 = t.tap_offsets[1], o2 = t.tap_offsets[2];
  const int64_t o3 = t.tap_offsets[3], o4 = t.tap_offsets[4], o5 = t.tap_offsets[5];
  const float* g = t.grad;
  for (int64_t oh = 0; oh < t.out_h; ++oh) {
    const float* x = t.image + oh * t.row_step;
    for (int64_t ow = 0; ow < t.out_w; ++ow, x += t.col_step, g += kChannels) {
      const __m256 g0 = _mm256_loadu_ps(g), g1 = _mm256_loadu_ps(g + 8);
      __m256 a = _mm256_broadcast_ss(x + o0);
      c00 = _mm256_fmadd_ps(a, g0, c00), c01 = _mm256_fmadd_ps(a, g1, c01);
      a = _mm256_broadcast_ss(x + o1);
      c10 = _mm256_fmadd_ps(a, g0, c10), c11 = _mm256_fmadd_ps(a, g1, c11);
      a = _mm256_broadcast_ss(x + o2);
      c20 = _mm256_fmadd_ps(a, g0, c20), c21 = _mm256_fmadd_ps(a, g1, c21);
      a = _mm256_broadcast_ss(x + o3);
      c30 = _mm256_fmadd_ps(a, g0, c30), c31 = _mm256_fmadd_ps(a, g1, c31);
      a = _mm256_broadcast_ss(x + o4);
      c40 = _mm256_fmadd_ps(a, g0, c40), c41 = _mm256_fmadd_ps(a, g1, c41);
      a = _mm256_broadcast_ss(x + o5);
      c50 = _mm256_fmadd_ps(a, g0, c50), c51 = _mm256_fmadd_ps(a, g1, c51);
    }
  }
  _mm256_storeu_ps(acc + 0, c00), _mm256_storeu_ps(acc + 8, c01);
  _mm256_storeu_ps(acc + 16, c10), _mm256_storeu_ps(acc + 24, c11);
  _mm256_storeu_ps(acc + 32, c20), _mm256_storeu_ps(acc + 40, c21);
  _mm256_storeu_ps(acc + 48, c30), _mm256_storeu_ps(acc + 56, c31);
  _mm256_storeu_ps(acc + 64, c40), _mm256_storeu_ps(acc + 72, c41);
  _mm256_storeu_ps(acc + 80, c50), _mm256_storeu_ps(acc + 88, c51);
}

}  // namespace fastcnn::cpu::direct
