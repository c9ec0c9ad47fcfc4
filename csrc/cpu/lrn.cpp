// Local response norm (AlexNet) forward and backward on an (N, C, inner) float32 tensor,
// normalizing across channels:
//   scale[c] = k + alpha / size * sum_{j = c - size/2}^{c + (size-1)/2} x[j]^2  (zero-padded)
//   out[c]   = x[c] * scale[c]^-beta
// Each (sample, block of kBlock inner positions) is one work item; the window sum slides
// along channels (one add and one subtract per channel, in double so it cannot drift),
// vectorized across the block's inner positions. One code path: the loops are plain and
// auto-vectorize, and the cost is dominated by pow, which beta = 0.75 / 0.5 / 1 avoid.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/check.h"
#include "common/parallel.h"
#include "fastcnn/norm.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {
namespace {

constexpr int64_t kBlock = 64;
constexpr int64_t kMinFloatsPerThread = int64_t{1} << 14;

// p[i] = s[i]^-beta, with the common exponents computed by square roots.
void pow_neg(const float* s, float* p, int64_t len, float beta) {
  if (beta == 0.75f) {
    for (int64_t i = 0; i < len; ++i) {
      const float r = std::sqrt(s[i]);
      p[i] = 1.0f / (r * std::sqrt(r));
    }
  } else if (beta == 0.5f) {
    for (int64_t i = 0; i < len; ++i) p[i] = 1.0f / std::sqrt(s[i]);
  } else if (beta == 1.0f) {
    for (int64_t i = 0; i < len; ++i) p[i] = 1.0f / s[i];
  } else if (beta == 0.0f) {
    for (int64_t i = 0; i < len; ++i) p[i] = 1.0f;
  } else {
    for (int64_t i = 0; i < len; ++i) p[i] = std::pow(s[i], -beta);
  }
}

// out[c][i] = sum over channels j in [c - before, c + after] of v[j][i]^2 (or v[j][i] when
// !square), times factor plus add, for c < channels, i < len; channel rows of v and out are
// v_stride and out_stride apart. A sum of squares is clamped at 0 against rounding.
void window_sum(const float* v, int64_t v_stride, float* out, int64_t out_stride, int64_t channels, int64_t len,
                int64_t before, int64_t after, bool square, float factor, float add) {
  double acc[kBlock] = {};
  auto term = [&](int64_t ch, int64_t i) {
    const double value = v[ch * v_stride + i];
    return square ? value * value : value;
  };
  for (int64_t ch = 0; ch <= std::min(after, channels - 1); ++ch)
    for (int64_t i = 0; i < len; ++i) acc[i] += term(ch, i);
  for (int64_t ch = 0; ch < channels; ++ch) {
    float* o = out + ch * out_stride;
    if (square) {
      for (int64_t i = 0; i < len; ++i) o[i] = static_cast<float>(add + factor * std::max(0.0, acc[i]));
    } else {
      for (int64_t i = 0; i < len; ++i) o[i] = static_cast<float>(add + factor * acc[i]);
    }
    const int64_t enter = ch + 1 + after, leave = ch - before;
    if (enter < channels)
      for (int64_t i = 0; i < len; ++i) acc[i] += term(enter, i);
    if (leave >= 0)
      for (int64_t i = 0; i < len; ++i) acc[i] -= term(leave, i);
  }
}

void check(const LrnParams& p, const char* op) {
  FASTCNN_CHECK(p.n >= 0 && p.c >= 1 && p.inner >= 0, op, ": bad sizes N=", p.n, " C=", p.c, " inner=", p.inner);
  FASTCNN_CHECK(p.size >= 1, op, ": size must be >= 1, got ", p.size);
}

template <class Body>
void for_each_block(const LrnParams& p, const Body& body) {
  const int64_t blocks = (p.inner + kBlock - 1) / kBlock;
  const int64_t items = p.n * blocks;
  if (items == 0) return;
  const int64_t useful = std::max<int64_t>(1, std::min(items, p.n * p.c * p.inner / kMinFloatsPerThread));
  const int threads = static_cast<int>(std::min<int64_t>(get_num_threads(), useful));
  detail::parallel_region(threads, [&](int tid, int team) {
    const int64_t begin = items * tid / team, end = items * (tid + 1) / team;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t i0 = (item % blocks) * kBlock;
      const int64_t offset = (item / blocks) * p.c * p.inner + i0;
      body(offset, std::min(kBlock, p.inner - i0));
    }
  });
}

}  // namespace

void local_response_norm_forward(const LrnParams& p, const float* x, float* out, float* scale) {
  check(p, "local_response_norm");
  const float factor = p.alpha / static_cast<float>(p.size);
  for_each_block(p, [&](int64_t offset, int64_t len) {
    window_sum(x + offset, p.inner, scale + offset, p.inner, p.c, len, p.size / 2, (p.size - 1) / 2, true, factor, p.k);
    float powed[kBlock];
    for (int64_t ch = 0; ch < p.c; ++ch) {
      const int64_t at = offset + ch * p.inner;
      pow_neg(scale + at, powed, len, p.beta);
      for (int64_t i = 0; i < len; ++i) out[at + i] = x[at + i] * powed[i];
    }
  });
}

// dx[j] = g[j] * s[j]^-beta - 2 alpha beta / size * x[j] * sum_{i : j in window(i)} g[i] x[i] s[i]^(-beta-1)
// where j in window(i) <=> i in [j - (size-1)/2, j + size/2].
void local_response_norm_backward(const LrnParams& p, const float* grad_out, const float* x, const float* scale,
                                  float* grad_input) {
  check(p, "local_response_norm_backward");
  const float factor = -2.0f * p.alpha * p.beta / static_cast<float>(p.size);
  for_each_block(p, [&](int64_t offset, int64_t len) {
    // powed = s^-beta and t = the summand, per channel of the block; the window sums of t
    // go to grad_input's rows, which then become dx in place.
    std::vector<float> powed(static_cast<size_t>(p.c * kBlock)), t(static_cast<size_t>(p.c * kBlock));
    for (int64_t ch = 0; ch < p.c; ++ch) {
      const int64_t at = offset + ch * p.inner;
      float* pw = &powed[static_cast<size_t>(ch * kBlock)];
      float* tc = &t[static_cast<size_t>(ch * kBlock)];
      pow_neg(scale + at, pw, len, p.beta);
      for (int64_t i = 0; i < len; ++i) tc[i] = grad_out[at + i] * x[at + i] * pw[i] / scale[at + i];
    }
    window_sum(t.data(), kBlock, grad_input + offset, p.inner, p.c, len, (p.size - 1) / 2, p.size / 2, false, 1.0f,
               0.0f);
    for (int64_t ch = 0; ch < p.c; ++ch) {
      const int64_t at = offset + ch * p.inner;
      const float* pw = &powed[static_cast<size_t>(ch * kBlock)];
      for (int64_t i = 0; i < len; ++i)
        grad_input[at + i] = grad_out[at + i] * pw[i] + factor * x[at + i] * grad_input[at + i];
    }
  });
}

}  // namespace fastcnn::cpu
