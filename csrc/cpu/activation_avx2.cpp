// AVX2/FMA activations: relu, leaky_relu, tanh, sigmoid (forward and backward) and the
// vectorized exp they and the softmax kernels share. Flat float32 arrays, 8 lanes at a
// time; the last n % 8 elements go through the same vector code via a small buffer, so
// every element gets bit-identical math whatever its position.
//
// exp: Cephes-style. n = round(x / ln 2), r = x - n ln 2 (ln 2 split in two so r is exact),
// e^r by a degree-6 polynomial on [-ln2/2, ln2/2] (~1-2 ulp), times 2^n built in two halves
// so that 2^n over [-151, 128] needs no special case: overflow rounds to +Inf, underflow
// to denormals / 0. x is clamped to [-105, 88.8] first (exp is 0 / Inf beyond), NaN passes.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "fastcnn/activation.h"

namespace fastcnn::cpu {

namespace {

// exp(x) = p * 2^n: n = round(x / ln 2) and p = exp(x - n ln 2) (Cephes expf's split
// ln 2 and polynomial); the callers scale by 2^n as their range needs.
inline __m256 exp_reduced(__m256 x, __m256& n) {
  n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  return _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
}

inline __m256 exp_ps(__m256 x) {
  // max/min return their second operand when one is NaN: NaN survives the clamp.
  x = _mm256_min_ps(_mm256_set1_ps(88.8f), _mm256_max_ps(_mm256_set1_ps(-105.0f), x));
  __m256 n;
  const __m256 p = exp_reduced(x, n);
  // 2^n = 2^n1 * 2^n2 with n1 = n >> 1, n2 = n - n1: both halves are normal floats.
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

inline __m256 sigmoid_ps(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), x));
  return _mm256_div_ps(one, _mm256_add_ps(one, e));
}

// tanh: an odd polynomial for |x| < 0.625 (Cephes tanhf; keeps relative accuracy near 0),
// else 1 - 2 / (exp(2|x|) + 1). |x| is clamped to 9.5 first (tanh rounds to 1 in float32
// from 9.01 on), so exp's argument stays in [0, 19]: 2^n needs one scale and no lower
// clamp, 7 operations fewer than exp_ps, with the same bits in that range. NaN passes
// (min returns its second operand, NaN); the sign of x (and of -0) is put back last.
inline __m256 tanh_ps(__m256 x) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  const __m256 ax = _mm256_andnot_ps(sign_bit, x);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), ax, ax);  // on |x|: >= 0
  // exp(t), t = 2 min(|x|, 9.5), as exp_ps.
  const __m256 t = _mm256_min_ps(_mm256_set1_ps(19.0f), _mm256_add_ps(ax, ax));
  __m256 n;
  __m256 e = exp_reduced(t, n);
  const __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
  e = _mm256_mul_ps(e, _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23)));
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 large = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  const __m256 magnitude = _mm256_blendv_ps(large, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
  return _mm256_or_ps(magnitude, _mm256_and_ps(sign_bit, x));  // tanh(-0) = -0
}

// The activation is a template argument so each loop is compiled without a branch.
template <Activation act>
struct Forward {
  __m256 slope;
  __m256 operator()(__m256 x) const {
    switch (act) {
      case Activation::Relu:  // max(0, x): NaN (second operand) passes
        return _mm256_max_ps(_mm256_setzero_ps(), x);
      case Activation::LeakyRelu: {
        const __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
        return _mm256_blendv_ps(_mm256_mul_ps(x, slope), x, pos);
      }
      case Activation::Tanh:
        return tanh_ps(x);
      case Activation::Sigmoid:
        return sigmoid_ps(x);
    }
    return x;
  }
};

template <Activation act>
struct Backward {
  __m256 slope;
  __m256 operator()(__m256 g, __m256 s) const {
    const __m256 one = _mm256_set1_ps(1.0f);
    switch (act) {
      case Activation::Relu: {  // zero where s <= 0; NaN is not <= 0, so g passes
        const __m256 dead = _mm256_cmp_ps(s, _mm256_setzero_ps(), _CMP_LE_OQ);
        return _mm256_andnot_ps(dead, g);
      }
      case Activation::LeakyRelu: {
        const __m256 pos = _mm256_cmp_ps(s, _mm256_setzero_ps(), _CMP_GT_OQ);
        return _mm256_blendv_ps(_mm256_mul_ps(g, slope), g, pos);
      }
      case Activation::Tanh:  // g * (1 - y^2)
        return _mm256_mul_ps(g, _mm256_fnmadd_ps(s, s, one));
      case Activation::Sigmoid:  // g * (1 - y) * y
        return _mm256_mul_ps(_mm256_mul_ps(g, _mm256_sub_ps(one, s)), s);
    }
    return g;
  }
};

template <class F>
void map1(const F& f, const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) {
    float buf[8] = {0};
    std::memcpy(buf, x + i, sizeof(float) * static_cast<size_t>(n - i));
    _mm256_storeu_ps(buf, f(_mm256_loadu_ps(buf)));
    std::memcpy(y + i, buf, sizeof(float) * static_cast<size_t>(n - i));
  }
}

template <class F>
void map2(const F& f, const float* a, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  if (i < n) {
    float ba[8] = {0}, bb[8] = {0};
    const size_t bytes = sizeof(float) * static_cast<size_t>(n - i);
    std::memcpy(ba, a + i, bytes);
    std::memcpy(bb, b + i, bytes);
    _mm256_storeu_ps(ba, f(_mm256_loadu_ps(ba), _mm256_loadu_ps(bb)));
    std::memcpy(y + i, ba, bytes);
  }
}

}  // namespace

void activation_forward_avx2(Activation act, const float* x, float* y, int64_t n, float negative_slope) {
  const __m256 s = _mm256_set1_ps(negative_slope);
  switch (act) {
    case Activation::Relu: return map1(Forward<Activation::Relu>{s}, x, y, n);
    case Activation::LeakyRelu: return map1(Forward<Activation::LeakyRelu>{s}, x, y, n);
    case Activation::Tanh: return map1(Forward<Activation::Tanh>{s}, x, y, n);
    case Activation::Sigmoid: return map1(Forward<Activation::Sigmoid>{s}, x, y, n);
  }
}

void activation_backward_avx2(Activation act, const float* grad_out, const float* saved, float* grad_in,
                              int64_t n, float negative_slope) {
  const __m256 s = _mm256_set1_ps(negative_slope);
  switch (act) {
    case Activation::Relu: return map2(Backward<Activation::Relu>{s}, grad_out, saved, grad_in, n);
    case Activation::LeakyRelu: return map2(Backward<Activation::LeakyRelu>{s}, grad_out, saved, grad_in, n);
    case Activation::Tanh: return map2(Backward<Activation::Tanh>{s}, grad_out, saved, grad_in, n);
    case Activation::Sigmoid: return map2(Backward<Activation::Sigmoid>{s}, grad_out, saved, grad_in, n);
  }
}

void exp_avx2(const float* x, float* y, int64_t n) {
  map1([](__m256 v) { return exp_ps(v); }, x, y, n);
}

}  // namespace fastcnn::cpu
