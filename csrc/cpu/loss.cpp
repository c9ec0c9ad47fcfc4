// Class-index losses: nll_loss and the fused cross_entropy (log_softmax + nll + label
// smoothing), forward and backward, with torch's semantics:
//   element e = (o, i) with target t (ignored when t == ignore_index: loss 0, weight 0)
//   nll_e    = -w[t] * logp[o, t, i]
//   smooth_e = -sum_c w[c] * logp[o, c, i]
//   loss_e   = (1 - eps) * nll_e + eps / C * smooth_e
//   mean     = sum_e loss_e / sum_e w[t_e]   (the same denominator for both parts, as torch)
// Gradient of loss_e with respect to logit (o, c, i), with p = exp(logp):
//   (1 - eps) * w[t] * (p_c - [c == t]) + eps / C * (p_c * sum_c' w[c'] - w[c])
// Layout (outer, classes, inner) as in loss.h. Per-element losses go to a buffer summed by
// deterministic_sum, so the reductions do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/check.h"
#include "common/parallel.h"
#include "fastcnn/activation.h"
#include "fastcnn/loss.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

namespace {

constexpr int64_t kSumChunk = 16 * 1024;
constexpr int64_t kBlock = 256;
constexpr int64_t kMinElementsPerThread = 32 * 1024;

int threads_for(int64_t work, int64_t items) {
  return static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>({static_cast<int64_t>(get_num_threads()), work / kMinElementsPerThread, items})));
}

void check_params(const ClassLossParams& p, const char* op) {
  const ClassDims& d = p.dims;
  FASTCNN_CHECK(d.outer >= 0 && d.classes >= 0 && d.inner >= 0, op, ": sizes must be >= 0");
  FASTCNN_CHECK(p.reduction == Reduction::None || p.reduction == Reduction::Mean || p.reduction == Reduction::Sum,
                op, ": unknown reduction");
  FASTCNN_CHECK(p.label_smoothing >= 0.0f && p.label_smoothing <= 1.0f, op,
                ": label_smoothing must be in [0, 1], got ", p.label_smoothing);
  if (d.outer * d.inner > 0) FASTCNN_CHECK(p.target != nullptr, op, ": target is null");
  check_class_targets(p, op);
}

float class_weight(const ClassLossParams& p, int64_t c) { return p.weight ? p.weight[c] : 1.0f; }

double total_weight(const ClassLossParams& p) {
  double w = 0.0;
  const int64_t n = p.dims.outer * p.dims.inner;
  for (int64_t e = 0; e < n; ++e)
    if (p.target[e] != p.ignore_index) w += class_weight(p, p.target[e]);
  return w;
}

// Writes the reduced (or per-element) loss from per-element values.
void reduce(const std::vector<float>& values, Reduction r, double total, float* loss) {
  if (r == Reduction::None) {
    std::copy(values.begin(), values.end(), loss);
    return;
  }
  const double s = deterministic_sum(values.data(), static_cast<int64_t>(values.size()));
  loss[0] = static_cast<float>(r == Reduction::Sum ? s : s / total);
}

// Scale of element e's gradient: grad (per element or one), divided by the mean's total.
float grad_scale(const float* grad, Reduction r, double total, int64_t e) {
  if (r == Reduction::None) return grad[e];
  if (r == Reduction::Sum) return grad[0];
  return static_cast<float>(grad[0] / total);
}

}  // namespace

double deterministic_sum(const float* values, int64_t n) {
  if (n <= 0) return 0.0;
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> partial(static_cast<size_t>(chunks));
  const int threads = threads_for(n, chunks);
  detail::parallel_region(threads, [&](int tid, int team) {
    for (int64_t k = chunks * tid / team; k < chunks * (tid + 1) / team; ++k) {
      double s = 0.0;
      for (int64_t i = k * kSumChunk; i < std::min(n, (k + 1) * kSumChunk); ++i) s += values[i];
      partial[static_cast<size_t>(k)] = s;
    }
  });
  double s = 0.0;
  for (double v : partial) s += v;
  return s;
}

void check_class_targets(const ClassLossParams& p, const char* op) {
  const int64_t n = p.dims.outer * p.dims.inner;
  for (int64_t e = 0; e < n; ++e) {
    const int64_t t = p.target[e];
    FASTCNN_CHECK(t == p.ignore_index || (t >= 0 && t < p.dims.classes), op, ": target value ", t,
                  " at flat position ", e, " is out of range [0, ", p.dims.classes, ")");
  }
}

double nll_loss_forward(const float* log_probs, const ClassLossParams& p, float* loss) {
  check_params(p, "nll_loss");
  const ClassDims& d = p.dims;
  const int64_t n = d.outer * d.inner;
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t e = 0; e < n; ++e) {
    const int64_t t = p.target[e], o = e / d.inner, i = e % d.inner;
    values[static_cast<size_t>(e)] =
        t == p.ignore_index ? 0.0f : -class_weight(p, t) * log_probs[(o * d.classes + t) * d.inner + i];
  }
  const double total = total_weight(p);
  reduce(values, p.reduction, total, loss);
  return total;
}

void nll_loss_backward(const float* grad, const ClassLossParams& p, double total, float* grad_in) {
  check_params(p, "nll_loss_backward");
  const ClassDims& d = p.dims;
  std::fill(grad_in, grad_in + d.outer * d.classes * d.inner, 0.0f);
  for (int64_t e = 0; e < d.outer * d.inner; ++e) {
    const int64_t t = p.target[e], o = e / d.inner, i = e % d.inner;
    if (t == p.ignore_index) continue;
    grad_in[(o * d.classes + t) * d.inner + i] = -class_weight(p, t) * grad_scale(grad, p.reduction, total, e);
  }
}

double cross_entropy_forward(const float* logits, const ClassLossParams& p, float* loss, float* log_probs) {
  check_params(p, "cross_entropy");
  const ClassDims& d = p.dims;
  softmax_forward(logits, log_probs, d, /*log=*/true);
  const int64_t n = d.outer * d.inner;
  std::vector<float> values(static_cast<size_t>(n));
  const float eps = p.label_smoothing, c = static_cast<float>(d.classes);
  detail::parallel_region(threads_for(n * (eps > 0.0f ? d.classes : 1), n), [&](int tid, int team) {
    for (int64_t e = n * tid / team; e < n * (tid + 1) / team; ++e) {
      const int64_t t = p.target[e], o = e / d.inner, i = e % d.inner;
      float v = 0.0f;
      if (t != p.ignore_index) {
        const float* lp = log_probs + o * d.classes * d.inner + i;
        v = -class_weight(p, t) * lp[t * d.inner];
        if (eps > 0.0f) {
          float smooth = 0.0f;
          for (int64_t k = 0; k < d.classes; ++k) smooth -= class_weight(p, k) * lp[k * d.inner];
          v = (1.0f - eps) * v + eps / c * smooth;
        }
      }
      values[static_cast<size_t>(e)] = v;
    }
  });
  const double total = total_weight(p);
  reduce(values, p.reduction, total, loss);
  return total;
}

void cross_entropy_backward(const float* grad, const float* log_probs, const ClassLossParams& p, double total,
                            float* grad_in) {
  check_params(p, "cross_entropy_backward");
  const ClassDims& d = p.dims;
  const float eps = p.label_smoothing, c = static_cast<float>(d.classes);
  float weight_sum = c;
  if (p.weight) {
    double s = 0.0;
    for (int64_t k = 0; k < d.classes; ++k) s += p.weight[k];
    weight_sum = static_cast<float>(s);
  }
  const int64_t blocks = d.inner == 1 ? 1 : (d.inner + kBlock - 1) / kBlock;
  const int64_t items = d.outer * blocks;
  detail::parallel_region(threads_for(d.outer * d.classes * d.inner, items), [&](int tid, int team) {
    // Per position j of the block: grad_in[c] = a[j] * p_c - b[j] * w[c] - (c == t ? h[j] : 0).
    float a[kBlock], b[kBlock], h[kBlock];
    for (int64_t it = items * tid / team; it < items * (tid + 1) / team; ++it) {
      const int64_t o = it / blocks, i0 = (it % blocks) * kBlock, len = std::min(kBlock, d.inner - i0);
      for (int64_t j = 0; j < len; ++j) {
        const int64_t e = o * d.inner + i0 + j, t = p.target[e];
        if (t == p.ignore_index) {
          a[j] = b[j] = h[j] = 0.0f;
          continue;
        }
        const float s = grad_scale(grad, p.reduction, total, e), wt = class_weight(p, t);
        a[j] = s * ((1.0f - eps) * wt + eps / c * weight_sum);
        b[j] = s * eps / c;
        h[j] = s * (1.0f - eps) * wt;
      }
      const int64_t base = o * d.classes * d.inner + i0;
      if (d.inner == 1) {  // one contiguous row: one exp call over all classes
        float* out = grad_in + base;
        exp(log_probs + base, out, d.classes);
        if (p.weight) {
          for (int64_t k = 0; k < d.classes; ++k) out[k] = a[0] * out[k] - b[0] * p.weight[k];
        } else {
          for (int64_t k = 0; k < d.classes; ++k) out[k] = a[0] * out[k] - b[0];
        }
      } else {
        for (int64_t k = 0; k < d.classes; ++k) {
          float* out = grad_in + base + k * d.inner;
          exp(log_probs + base + k * d.inner, out, len);
          const float wk = class_weight(p, k);
          for (int64_t j = 0; j < len; ++j) out[j] = a[j] * out[j] - b[j] * wk;
        }
      }
      for (int64_t j = 0; j < len; ++j) {
        const int64_t t = p.target[o * d.inner + i0 + j];
        if (t != p.ignore_index) grad_in[base + t * d.inner + j] -= h[j];
        else for (int64_t k = 0; k < d.classes; ++k) grad_in[base + k * d.inner + j] = 0.0f;
      }
    }
  });
}

}  // namespace fastcnn::cpu
