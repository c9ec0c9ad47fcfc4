// Batch-norm row primitives: the inner loops over one contiguous row of `n` floats (one
// (sample, channel) plane of an (N, C, inner) tensor). batchnorm.cpp is the frame that
// splits the tensor into rows and threads; these do the arithmetic, once portable
// (batchnorm_rows.cpp) and once with AVX2/FMA (batchnorm_rows_avx2.cpp).
// Sums come back in double: floats are summed in short blocks, blocks in double, so a
// channel of millions of values keeps ~1e-7 relative accuracy.
#pragma once

#include <cstdint>

namespace fastcnn::cpu {

struct BnRowKernels {
  // s1 = sum(x)
  void (*sum)(const float* x, int64_t n, double* s1);
  // d = x - m: s1 = sum(d), s2 = sum(d * d)  (the corrected two-pass variance)
  void (*dev)(const float* x, int64_t n, float m, double* s1, double* s2);
  // s1 = sum(dy), s2 = sum(dy * (x - m))
  void (*grad)(const float* dy, const float* x, int64_t n, float m, double* s1, double* s2);
  // out = (x - m) * a + b
  void (*apply)(const float* x, float* out, int64_t n, float m, float a, float b);
  // dx = dy * a + (x - m) * b + c   (x unread when b == 0 and x is null)
  void (*apply_bwd)(const float* dy, const float* x, float* dx, int64_t n, float m, float a, float b, float c);
};

extern const BnRowKernels bn_rows_ref;
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
extern const BnRowKernels bn_rows_avx2;
#endif

// Floats summed per block before the block's sum is added in double.
constexpr int64_t kBnBlock = 256;

}  // namespace fastcnn::cpu
