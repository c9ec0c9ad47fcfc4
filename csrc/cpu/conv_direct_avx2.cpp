// The direct convolution's 6 x 16 tile with AVX2 + FMA (this file gets -mavx2 -mfma):
// per filter tap, two 8-channel loads of packed weights and six broadcasts of input
// pixels feed 12 independent FMAs, as in the GEMM micro-kernel. The 12 accumulators are
// named variables, not an array: GCC kept an array of them on the stack, storing each one
// after every FMA, which halved the speed.
#include <immintrin.h>

#include "cpu/conv_direct.h"

namespace fastcnn::cpu::direct {

void tile_avx2(const TileArgs& t) {
  static_assert(kPixels == 6 && kChannels == 16, "the register tile below is written out for 6 x 16");
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
        a = _mm256_broadcast_ss(x3 + 2 * sw);
        c50 = _mm256_fmadd_ps(a, w0, c50), c51 = _mm256_fmadd_ps(a, w1, c51);
      }
    }
  }
  float* out = t.out;
  _mm256_storeu_ps(out + 0, c00), _mm256_storeu_ps(out + 8, c01);
  _mm256_storeu_ps(out + 16, c10), _mm256_storeu_ps(out + 24, c11);
  _mm256_storeu_ps(out + 32, c20), _mm256_storeu_ps(out + 40, c21);
  _mm256_storeu_ps(out + 48, c30), _mm256_storeu_ps(out + 56, c31);
  _mm256_storeu_ps(out + 64, c40), _mm256_storeu_ps(out + 72, c41);
  _mm256_storeu_ps(out + 80, c50), _mm256_storeu_ps(out + 88, c51);
}

}  // namespace fastcnn::cpu::direct
