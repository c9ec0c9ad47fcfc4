// Elementwise losses over n contiguous float32 values, forward and backward, as torch:
//   mse_loss:  l = (x - y)^2;                  dl/dx = 2 (x - y)
//   binary_cross_entropy_with_logits, stable form (no exp overflow for any x):
//     lw = 1 + (pos_weight - 1) * y            (1 without pos_weight)
//     l  = w * ((1 - y) x + lw * (log1p(exp(-|x|)) + max(-x, 0)))
//     dl/dx = w * ((1 - y) - lw * sigmoid(-x))
// Reductions: per-element losses to a buffer, then deterministic_sum (thread-count
// independent). Portable code; threads only for >= 64K elements each.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/check.h"
#include "common/parallel.h"
#include "fastcnn/loss.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

namespace {

constexpr int64_t kMinElementsPerThread = 64 * 1024;

void check(int64_t n, Reduction r, const char* op) {
  FASTCNN_CHECK(n >= 0, op, ": n must be >= 0, got ", n);
  FASTCNN_CHECK(r == Reduction::None || r == Reduction::Mean || r == Reduction::Sum, op, ": unknown reduction");
}

// Per-element losses (written by fill(begin, end, out)) reduced into loss as asked.
template <class Fill>
void forward(int64_t n, Reduction r, float* loss, const Fill& fill) {
  if (r == Reduction::None) {
    detail::parallel_ranges(n, kMinElementsPerThread, [&](int64_t b, int64_t e) { fill(b, e, loss); });
    return;
  }
  std::vector<float> values(static_cast<size_t>(n));
  detail::parallel_ranges(n, kMinElementsPerThread, [&](int64_t b, int64_t e) { fill(b, e, values.data()); });
  const double s = deterministic_sum(values.data(), n);
  loss[0] = static_cast<float>(r == Reduction::Sum ? s : s / static_cast<double>(n));  // mean of 0: NaN
}

// Gradient scale of element i.
inline float scale_of(const float* grad, Reduction r, float mean_scale, int64_t i) {
  return r == Reduction::None ? grad[i] : mean_scale;
}

float reduced_scale(const float* grad, Reduction r, int64_t n) {
  if (r == Reduction::None) return 0.0f;
  return r == Reduction::Sum ? grad[0] : static_cast<float>(grad[0] / static_cast<double>(n));
}

inline float bce_log_weight(const float* pos_weight, float y, int64_t i) {
  return pos_weight ? 1.0f + (pos_weight[i] - 1.0f) * y : 1.0f;
}

}  // namespace

void mse_loss_forward(const float* x, const float* y, int64_t n, Reduction r, float* loss) {
  check(n, r, "mse_loss");
  forward(n, r, loss, [&](int64_t b, int64_t e, float* out) {
    for (int64_t i = b; i < e; ++i) out[i] = (x[i] - y[i]) * (x[i] - y[i]);
  });
}

void mse_loss_backward(const float* grad, const float* x, const float* y, int64_t n, Reduction r, float* grad_in) {
  check(n, r, "mse_loss_backward");
  const float s = reduced_scale(grad, r, n);
  detail::parallel_ranges(n, kMinElementsPerThread, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) grad_in[i] = 2.0f * (x[i] - y[i]) * scale_of(grad, r, s, i);
  });
}

void bce_with_logits_forward(const float* x, const float* y, const float* weight, const float* pos_weight,
                             int64_t n, Reduction r, float* loss) {
  check(n, r, "binary_cross_entropy_with_logits");
  forward(n, r, loss, [&](int64_t b, int64_t e, float* out) {
    for (int64_t i = b; i < e; ++i) {
      const float lw = bce_log_weight(pos_weight, y[i], i);
      const float softplus = std::log1p(std::exp(-std::fabs(x[i]))) + std::max(-x[i], 0.0f);
      const float l = (1.0f - y[i]) * x[i] + lw * softplus;
      out[i] = weight ? weight[i] * l : l;
    }
  });
}

void bce_with_logits_backward(const float* grad, const float* x, const float* y, const float* weight,
                              const float* pos_weight, int64_t n, Reduction r, float* grad_in) {
  check(n, r, "binary_cross_entropy_with_logits_backward");
  const float s = reduced_scale(grad, r, n);
  detail::parallel_ranges(n, kMinElementsPerThread, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float ex = std::exp(-std::fabs(x[i]));
      const float sig_neg = x[i] >= 0.0f ? ex / (1.0f + ex) : 1.0f / (1.0f + ex);  // sigmoid(-x)
      float d = (1.0f - y[i]) - bce_log_weight(pos_weight, y[i], i) * sig_neg;
      if (weight) d *= weight[i];
      grad_in[i] = d * scale_of(grad, r, s, i);
    }
  });
}

}  // namespace fastcnn::cpu
