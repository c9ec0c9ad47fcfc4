// The direct convolution's 6 x 16 tile with AVX2 + FMA (this file gets -mavx2 -mfma):
// per filter tap, two 8-channel loads of packed weights and six broadcasts of input
// pixels feed 12 independent FMAs, as in the GEMM micro-kernel.
#include <immintrin.h>

#include "cpu/conv_direct.h"

namespace fastcnn::cpu::direct {

void tile_avx2(const TileArgs& t) {
  __m256 acc[kPixels][2];
  for (auto& row : acc) row[0] = row[1] = _mm256_setzero_ps();
  const float* w = t.weights;
  for (int64_t c = 0; c < t.channels; ++c) {
    for (int64_t r = 0; r < t.kernel_h; ++r) {
      const float* row = t.input + c * t.channel_stride + r * t.dilation_h * t.row_stride;
      for (int64_t s = 0; s < t.kernel_w; ++s, w += kChannels) {
        const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
        const float* x = row + s * t.dilation_w;
        for (int64_t i = 0; i < kPixels; ++i) {
          const __m256 a = _mm256_broadcast_ss(x + i * t.stride_w);
          acc[i][0] = _mm256_fmadd_ps(a, w0, acc[i][0]);
          acc[i][1] = _mm256_fmadd_ps(a, w1, acc[i][1]);
        }
      }
    }
  }
  for (int64_t i = 0; i < kPixels; ++i) {
    _mm256_storeu_ps(t.out + i * kChannels, acc[i][0]);
    _mm256_storeu_ps(t.out + i * kChannels + 8, acc[i][1]);
  }
}

}  // namespace fastcnn::cpu::direct
