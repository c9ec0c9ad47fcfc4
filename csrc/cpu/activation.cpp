// Elementwise activations, the public entry points: argument checks, the thread split
// (contiguous ranges, threads only for >= 64K elements each) and the portable kernels.
// The portable loops are plain C++ (relu/leaky_relu and all backward ones auto-vectorize);
// tanh/sigmoid/exp use <cmath>. The AVX2 versions are in activation_avx2.cpp.
#include <algorithm>
#include <cmath>

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

template <Activation act>
void forward_ref(const float* x, float* y, int64_t n, float slope) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if constexpr (act == Activation::Relu) y[i] = v < 0.0f ? 0.0f : v;  // NaN passes
    if constexpr (act == Activation::LeakyRelu) y[i] = v > 0.0f ? v : v * slope;
    if constexpr (act == Activation::Tanh) y[i] = std::tanh(v);
    if constexpr (act == Activation::Sigmoid) y[i] = 1.0f / (1.0f + std::exp(-v));
  }
}

template <Activation act>
void backward_ref(const float* g, const float* s, float* out, int64_t n, float slope) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (act == Activation::Relu) out[i] = s[i] <= 0.0f ? 0.0f : g[i];
    if constexpr (act == Activation::LeakyRelu) out[i] = s[i] > 0.0f ? g[i] : g[i] * slope;
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

// Runs body(begin, end) over [0, n) split in contiguous ranges (multiples of 16 elements,
// so no two threads share a cache line of the output).
template <class Body>
void split(int64_t n, const Body& body) {
  const int threads = static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), n / kMinElementsPerThread)));
  detail::parallel_region(threads, [&](int tid, int team) {
    const int64_t chunks = (n + 15) / 16;
    const int64_t begin = std::min(n, chunks * tid / team * 16);
    const int64_t end = std::min(n, chunks * (tid + 1) / team * 16);
    if (begin < end) body(begin, end);
  });
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
  split(n, [&](int64_t b, int64_t e) { forward_range(act, x + b, y + b, e - b, negative_slope); });
}

void activation_backward(Activation act, const float* grad_out, const float* saved, float* grad_in, int64_t n,
                         float negative_slope) {
  check_act(act, "activation_backward");
  FASTCNN_CHECK(n >= 0, "activation_backward: n must be >= 0, got ", n);
  if (n == 0) return;
  FASTCNN_CHECK(grad_out && saved && grad_in, "activation_backward: null pointer");
  split(n, [&](int64_t b, int64_t e) {
    backward_range(act, grad_out + b, saved + b, grad_in + b, e - b, negative_slope);
  });
}

void exp(const float* x, float* y, int64_t n) {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) return exp_avx2(x, y, n);
#endif
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

}  // namespace fastcnn::cpu
