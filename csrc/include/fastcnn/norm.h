// Normalization and dropout kernels on the CPU, float32, NCHW (C-contiguous).
//
// Batch norm views its input as (N, C, inner), inner = product of the dimensions after C
// (1 for a 2-D (N, C) input). Local response norm views its input the same way and
// normalizes across channels. Dropout works on flat arrays: its mask depends only on
// (seed, offset + element index), never on the thread count.
#pragma once

#include <cstdint>

namespace fastcnn {

// out = (x - mean[c]) * invstd[c] * weight[c] + bias[c].
// training: mean/var are the batch statistics (biased variance for normalizing); the
// running stats, when given, are updated in place: r = (1 - momentum) * r + momentum * s,
// with the unbiased variance. Eval: mean/var are the running stats.
// save_mean / save_invstd (length C) receive the mean and 1/sqrt(var + eps) used, in both
// modes, so the backward needs nothing else.
struct BatchNormParams {
  int64_t n = 0, c = 0, inner = 0;
  bool training = false;
  float momentum = 0.1f, eps = 1e-5f;
  const float* x = nullptr;
  float* out = nullptr;
  const float* weight = nullptr;  // optional (length C): 1 when null
  const float* bias = nullptr;    // optional (length C): 0 when null
  float* running_mean = nullptr;  // optional in training, required in eval
  float* running_var = nullptr;
  float* save_mean = nullptr;
  float* save_invstd = nullptr;
};

// Gradients of batch norm given the forward's save_mean / save_invstd. training: through
// the batch statistics; eval: the statistics are constants.
// grad_weight / grad_bias are optional (skipped when null).
struct BatchNormBackwardParams {
  int64_t n = 0, c = 0, inner = 0;
  bool training = false;
  const float* grad_out = nullptr;
  const float* x = nullptr;
  const float* weight = nullptr;  // optional: 1 when null
  const float* save_mean = nullptr;
  const float* save_invstd = nullptr;
  float* grad_input = nullptr;
  float* grad_weight = nullptr;
  float* grad_bias = nullptr;
};

// scale = k + alpha / size * sum of x^2 over channels [c - size/2, c + (size-1)/2]
// (zero-padded), out = x * scale^-beta. scale is saved for the backward.
struct LrnParams {
  int64_t n = 0, c = 0, inner = 0;
  int64_t size = 1;
  float alpha = 1e-4f, beta = 0.75f, k = 1.0f;
};

namespace cpu {

void batch_norm_forward(const BatchNormParams& params);
void batch_norm_backward(const BatchNormBackwardParams& params);

void local_response_norm_forward(const LrnParams& params, const float* x, float* out, float* scale);
void local_response_norm_backward(const LrnParams& params, const float* grad_out, const float* x,
                                  const float* scale, float* grad_input);

// mask[i] = 1 with probability 1 - p, from a hash of (seed, offset + i).
void bernoulli_mask(uint8_t* mask, int64_t count, double p, uint64_t seed, uint64_t offset);
// out = x * mask / (1 - p); zeros when p == 1. Also the backward (x = grad_out).
void dropout_apply(const float* x, const uint8_t* mask, float* out, int64_t count, double p);

}  // namespace cpu
}  // namespace fastcnn
