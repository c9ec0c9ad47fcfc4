// Fused optimizer updates (SGD, Adam/AdamW, RMSprop) over one parameter of n contiguous
// float32 elements: one loop reads param, grad and the state buffers once and writes them
// once, instead of torch's chain of tensor ops. Each element follows torch's single-tensor
// formulas in float32, in torch's order (lerp with torch's two-branch formula), so results
// match torch to rounding. Options fixed for a call are template parameters, so every
// loop is branch-free and auto-vectorizes (plain C++; it is memory-bound, AVX2 by hand
// would not pay). Threads only for >= 256K elements, split into contiguous ranges.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "common/check.h"
#include "common/parallel.h"
#include "fastcnn/optim.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

namespace {

// Threads only for n >= 2 * kMinElementsPerThread (256K).
constexpr int64_t kMinElementsPerThread = 128 * 1024;

// Calls f with the bools as std::integral_constants (compile-time options).
template <class F>
void with_flags(F&& f) {
  f();
}
template <class F, class... Rest>
void with_flags(F&& f, bool first, Rest... rest) {
  if (first) {
    with_flags([&](auto... flags) { f(std::true_type{}, flags...); }, rest...);
  } else {
    with_flags([&](auto... flags) { f(std::false_type{}, flags...); }, rest...);
  }
}

// torch's lerp(start, end, weight): start + w * (end - start) for w < 0.5, else
// end - (end - start) * (1 - w); `low` is (w < 0.5), fixed for the call.
inline float lerp(float start, float end, float w, bool low) {
  const float diff = end - start;
  return low ? start + w * diff : end - diff * (1.0f - w);
}

}  // namespace

void sgd_step(float* param, const float* grad, float* buf, int64_t n, const SgdParams& p) {
  FASTCNN_CHECK(n >= 0, "sgd_step: n must be >= 0, got ", n);
  FASTCNN_CHECK(p.momentum == 0 || buf != nullptr, "sgd_step: momentum_buffer is required when momentum != 0");
  const float sign = p.maximize ? -1.0f : 1.0f;
  const float wd = static_cast<float>(p.weight_decay), mom = static_cast<float>(p.momentum);
  const float keep = static_cast<float>(1.0 - p.dampening), neg_lr = static_cast<float>(-p.lr);
  with_flags([&](auto decay, auto use_momentum, auto first, auto nesterov) {
    // By value: stores cannot alias the scalars.
    detail::parallel_ranges(n, kMinElementsPerThread, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        float g = sign * grad[i];
        if constexpr (decay) g = g + wd * param[i];
        if constexpr (use_momentum) {
          float b;
          if constexpr (first) {
            b = g;
          } else {
            b = buf[i] * mom + keep * g;
          }
          buf[i] = b;
          if constexpr (nesterov) {
            g = g + mom * b;
          } else {
            g = b;
          }
        }
        param[i] = param[i] + neg_lr * g;
      }
    });
  }, p.weight_decay != 0, p.momentum != 0, p.first_step, p.nesterov);
}

void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
               int64_t n, const AdamParams& p) {
  FASTCNN_CHECK(n >= 0, "adam_step: n must be >= 0, got ", n);
  FASTCNN_CHECK(p.step >= 1, "adam_step: step must be >= 1, got ", p.step);
  FASTCNN_CHECK(!p.amsgrad || max_exp_avg_sq != nullptr, "adam_step: max_exp_avg_sq is required with amsgrad");
  const double step = static_cast<double>(p.step);
  const double bias_correction1 = 1.0 - std::pow(p.beta1, step);
  const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(p.beta2, step));
  const float neg_step_size = static_cast<float>(-(p.lr / bias_correction1));
  const float bc2_sqrt = static_cast<float>(bias_correction2_sqrt), eps = static_cast<float>(p.eps);
  const float sign = p.maximize ? -1.0f : 1.0f;
  const float wd = static_cast<float>(p.weight_decay);
  // AdamW multiplies param by (1 - lr * wd) before anything else; 1 when there is no decay.
  const float shrink = p.decoupled_weight_decay ? static_cast<float>(1.0 - p.lr * p.weight_decay) : 1.0f;
  const float w1 = static_cast<float>(1.0 - p.beta1), beta2 = static_cast<float>(p.beta2);
  const float one_minus_beta2 = static_cast<float>(1.0 - p.beta2);
  const bool low1 = w1 < 0.5f;
  with_flags([&](auto coupled_decay, auto amsgrad) {
    // By value: stores cannot alias the scalars.
    detail::parallel_ranges(n, kMinElementsPerThread, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const float x = param[i] * shrink;
        float g = sign * grad[i];
        if constexpr (coupled_decay) g = g + wd * x;
        const float m = lerp(exp_avg[i], g, w1, low1);
        const float v = exp_avg_sq[i] * beta2 + one_minus_beta2 * (g * g);
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        float v_used = v;
        if constexpr (amsgrad) {
          v_used = std::max(max_exp_avg_sq[i], v);
          max_exp_avg_sq[i] = v_used;
        }
        const float denom = std::sqrt(v_used) / bc2_sqrt + eps;
        param[i] = x + neg_step_size * (m / denom);
      }
    });
  }, p.weight_decay != 0 && !p.decoupled_weight_decay, p.amsgrad);
}

void rmsprop_step(float* param, const float* grad, float* square_avg, float* grad_avg, float* buf, int64_t n,
                  const RmspropParams& p) {
  FASTCNN_CHECK(n >= 0, "rmsprop_step: n must be >= 0, got ", n);
  FASTCNN_CHECK(!p.centered || grad_avg != nullptr, "rmsprop_step: grad_avg is required when centered");
  FASTCNN_CHECK(!(p.momentum > 0) || buf != nullptr, "rmsprop_step: momentum_buffer is required when momentum > 0");
  const float sign = p.maximize ? -1.0f : 1.0f;
  const float wd = static_cast<float>(p.weight_decay), alpha = static_cast<float>(p.alpha);
  const float one_minus_alpha = static_cast<float>(1.0 - p.alpha), eps = static_cast<float>(p.eps);
  const float mom = static_cast<float>(p.momentum), neg_lr = static_cast<float>(-p.lr);
  const bool low = one_minus_alpha < 0.5f;
  with_flags([&](auto decay, auto centered, auto use_momentum) {
    // By value: stores cannot alias the scalars.
    detail::parallel_ranges(n, kMinElementsPerThread, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        float g = sign * grad[i];
        if constexpr (decay) g = g + wd * param[i];
        const float sa = square_avg[i] * alpha + one_minus_alpha * (g * g);
        square_avg[i] = sa;
        float avg;
        if constexpr (centered) {
          const float ga = lerp(grad_avg[i], g, one_minus_alpha, low);
          grad_avg[i] = ga;
          avg = std::sqrt(sa + -1.0f * (ga * ga));
        } else {
          avg = std::sqrt(sa);
        }
        avg = avg + eps;
        if constexpr (use_momentum) {
          const float b = buf[i] * mom + g / avg;
          buf[i] = b;
          param[i] = param[i] + neg_lr * b;
        } else {
          param[i] = param[i] + neg_lr * (g / avg);
        }
      }
    });
  }, p.weight_decay != 0, p.centered, p.momentum > 0);
}

}  // namespace fastcnn::cpu
