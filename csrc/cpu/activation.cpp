// Elementwise activations, the public entry points: argument checks, the thread split
// (contiguous ranges, threads only for >= 64K elements each, 16K for tanh and sigmoid
// forward) and the portable kernels.
// The portable loops are plain C++ written to auto-vectorize, tanh/sigmoid/exp included
// (a branch-free copy of the AVX2 exp). The AVX2 versions are in activation_avx2.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/check.h"
#include "common/parallel.h"
#include "fastcnn/activation.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

#if defined(FASTCNN_HAVE_AVX2_KERNELS)
void activation_forward_avx2(Activation act, const float* x, float* y, int64_t n, float negative_slope);
void activation_backward_avx2(Activation act, const float* grad_out, const float* saved, float* grad_in,
                              int64_t n, float negative_slope);
void exp_avx2(const float* x, float* y, int64_t n);
#endif

namespace {

constexpr int64_t kMinElementsPerThread = 64 * 1024;
// tanh and sigmoid cost ~2 cycles per element, not a memory pass: a second thread pays
// from ~16K elements (LeNet's 64x16x10x10 tanh: 80 -> 45 us).
constexpr int64_t kMinTranscendentalsPerThread = 16 * 1024;

inline float bits_to_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

// The same Cephes-style exp as activation_avx2.cpp in plain C++ (no FMA), written
// branch-free so the compiler vectorizes the loops that call it. NaN passes.
inline float exp_portable(float x) {
  float xc = x < -105.0f ? -105.0f : x;  // NaN compares false and stays NaN
  xc = xc > 88.8f ? 88.8f : xc;
  float n = xc * 1.44269504088896341f;
  n = (n + 12582912.0f) - 12582912.0f;  // round to nearest: 1.5 * 2^23 pushes out the fraction
  float r = xc - n * 0.693359375f;       // exact: n has <= 8 bits, the constant 9
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + (r + 1.0f);
  const int32_t ni = static_cast<int32_t>(n == n ? n : 0.0f);  // no NaN to int conversion
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  return p * bits_to_float((n1 + 127) << 23) * bits_to_float((n2 + 127) << 23);
}

inline uint32_t float_bits(float f) {
  uint32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}

// Bit operations instead of std::fabs / std::copysign: GCC will not inline those into
// functions compiled with the optimize pragma above, which would stop vectorization.
inline float tanh_portable(float x) {
  const uint32_t sign = float_bits(x) & 0x80000000u;
  const float ax = bits_to_float(static_cast<int32_t>(float_bits(x) & 0x7fffffffu));
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * ax + ax;  // odd polynomial on |x|; the sign is put back below
  const float large = 1.0f - 2.0f / (exp_portable(ax + ax) + 1.0f);
  const float magnitude = ax < 0.625f ? small : large;
  return bits_to_float(static_cast<int32_t>(float_bits(magnitude) | sign));
}

template <Activation act>
void forward_ref(const float* x, float* y, int64_t n, float slope) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if constexpr (act == Activation::Relu) y[i] = v < 0.0f ? 0.0f : v;  // NaN passes
    if constexpr (act == Activation::LeakyRelu) y[i] = v > 0.0f ? v : v * slope;
    if constexpr (act == Activation::Tanh) y[i] = tanh_portable(v);
    if constexpr (act == Activation::Sigmoid) y[i] = 1.0f / (1.0f + exp_portable(-v));
  }
}

template <Activation act>
void backward_ref(const float* g, const float* s, float* out, int64_t n, float slope) {
  for (int64_t i = 0; i < n; ++i) {
    const float gv = g[i];  // loaded unconditionally, so the selects need no branch
    if constexpr (act == Activation::Relu) out[i] = s[i] <= 0.0f ? 0.0f : gv;
    if constexpr (act == Activation::LeakyRelu) out[i] = s[i] > 0.0f ? gv : gv * slope;
    if constexpr (act == Activation::Tanh) out[i] = g[i] * (1.0f - s[i] * s[i]);
    if constexpr (act == Activation::Sigmoid) out[i] = g[i] * (1.0f - s[i]) * s[i];
  }
}

void forward_range(Activation act, const float* x, float* y, int64_t n, float slope) {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) return activation_forward_avx2(act, x, y, n, slope);
#endif
  switch (act) {
    case Activation::Relu: return forward_ref<Activation::Relu>(x, y, n, slope);
    case Activation::LeakyRelu: return forward_ref<Activation::LeakyRelu>(x, y, n, slope);
    case Activation::Tanh: return forward_ref<Activation::Tanh>(x, y, n, slope);
    case Activation::Sigmoid: return forward_ref<Activation::Sigmoid>(x, y, n, slope);
  }
}

void backward_range(Activation act, const float* g, const float* s, float* out, int64_t n, float slope) {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) return activation_backward_avx2(act, g, s, out, n, slope);
#endif
  switch (act) {
    case Activation::Relu: return backward_ref<Activation::Relu>(g, s, out, n, slope);
    case Activation::LeakyRelu: return backward_ref<Activation::LeakyRelu>(g, s, out, n, slope);
    case Activation::Tanh: return backward_ref<Activation::Tanh>(g, s, out, n, slope);
    case Activation::Sigmoid: return backward_ref<Activation::Sigmoid>(g, s, out, n, slope);
  }
}

void check_act(Activation act, const char* op) {
  FASTCNN_CHECK(act == Activation::Relu || act == Activation::LeakyRelu || act == Activation::Tanh ||
                    act == Activation::Sigmoid,
                op, ": unknown activation ", static_cast<int>(act));
}

}  // namespace

void activation_forward(Activation act, const float* x, float* y, int64_t n, float negative_slope) {
  check_act(act, "activation_forward");
  FASTCNN_CHECK(n >= 0, "activation_forward: n must be >= 0, got ", n);
  if (n == 0) return;
  FASTCNN_CHECK(x && y, "activation_forward: null pointer");
  const bool transcendental = act == Activation::Tanh || act == Activation::Sigmoid;
  detail::parallel_ranges(n, transcendental ? kMinTranscendentalsPerThread : kMinElementsPerThread,
                          [&](int64_t b, int64_t e) { forward_range(act, x + b, y + b, e - b, negative_slope); });
}

void activation_backward(Activation act, const float* grad_out, const float* saved, float* grad_in, int64_t n,
                         float negative_slope) {
  check_act(act, "activation_backward");
  FASTCNN_CHECK(n >= 0, "activation_backward: n must be >= 0, got ", n);
  if (n == 0) return;
  FASTCNN_CHECK(grad_out && saved && grad_in, "activation_backward: null pointer");
  detail::parallel_ranges(n, kMinElementsPerThread, [&](int64_t b, int64_t e) {
    backward_range(act, grad_out + b, saved + b, grad_in + b, e - b, negative_slope);
  });
}

void exp(const float* x, float* y, int64_t n) {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) return exp_avx2(x, y, n);
#endif
  for (int64_t i = 0; i < n; ++i) y[i] = exp_portable(x[i]);
}

}  // namespace fastcnn::cpu
