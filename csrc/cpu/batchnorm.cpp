// Batch norm forward and backward on an (N, C, inner) float32 tensor (NCHW viewed with
// inner = H*W, 1 for (N, C)). Statistics per channel over N*inner values.
//
// Reductions are deterministic for any thread count: partial sums are formed per fixed
// piece of work (one (n, c) row, or one column of the (N, C*inner) matrix when rows are
// short) and folded in a fixed order. The variance is the corrected two-pass one:
// d = x - mean_f, var = sum(d^2)/M - (sum(d)/M)^2, accurate for data far from zero.
// The row arithmetic is in batchnorm_rows*.cpp (portable and AVX2).
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/check.h"
#include "common/parallel.h"
#include "cpu/batchnorm_rows.h"
#include "fastcnn/norm.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {
namespace {

// Below this many floats a thread is not worth waking.
constexpr int64_t kMinFloatsPerThread = int64_t{1} << 15;
// Rows shorter than this are reduced column-wise (vectorized across channels instead).
constexpr int64_t kMinRowLength = 32;

const BnRowKernels& row_kernels() {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) return bn_rows_avx2;
#endif
  return bn_rows_ref;
}

int threads_for(int64_t floats, int64_t pieces) {
  const int64_t useful = std::max<int64_t>(1, std::min(pieces, floats / kMinFloatsPerThread));
  return static_cast<int>(std::min<int64_t>(get_num_threads(), useful));
}

// Contiguous share [begin, end) of `total` items for thread `tid` of `team`.
inline void share(int64_t total, int tid, int team, int64_t* begin, int64_t* end) {
  *begin = total * tid / team;
  *end = total * (tid + 1) / team;
}

// Runs row(r) for each of `rows` rows of `inner` floats, contiguous shares per thread.
template <class Row>
void for_each_row(int64_t rows, int64_t inner, const Row& row) {
  detail::parallel_region(threads_for(rows * inner, rows), [&](int tid, int team) {
    int64_t begin, end;
    share(rows, tid, team, &begin, &end);
    for (int64_t r = begin; r < end; ++r) row(r);
  });
}

enum class Reduce { Sum, Dev, Grad };

// Per-channel s1[c], s2[c] of the chosen reduction over (N, inner). `a` is x (Sum, Dev) or
// dy (Grad); `b` is x for Grad; `m` the per-channel centre (Dev, Grad).
void channel_reduce(Reduce kind, int64_t n, int64_t c, int64_t inner, const float* a, const float* b,
                    const float* m, double* s1, double* s2) {
  const int64_t total = n * c * inner;
  if (inner >= kMinRowLength) {
    const BnRowKernels& k = row_kernels();
    const int64_t rows = n * c;
    std::vector<double> part1(static_cast<size_t>(rows)), part2(static_cast<size_t>(rows));
    for_each_row(rows, inner, [&](int64_t r) {
      const int64_t ch = r % c;
      const float* ra = a + r * inner;
      double* p1 = &part1[static_cast<size_t>(r)];
      double* p2 = &part2[static_cast<size_t>(r)];
      if (kind == Reduce::Sum) k.sum(ra, inner, p1), *p2 = 0.0;
      if (kind == Reduce::Dev) k.dev(ra, inner, m[ch], p1, p2);
      if (kind == Reduce::Grad) k.grad(ra, b + r * inner, inner, m[ch], p1, p2);
    });
    for (int64_t ch = 0; ch < c; ++ch) {
      double t1 = 0.0, t2 = 0.0;
      for (int64_t i = 0; i < n; ++i) t1 += part1[static_cast<size_t>(i * c + ch)], t2 += part2[static_cast<size_t>(i * c + ch)];
      s1[ch] = t1, s2[ch] = t2;
    }
    return;
  }
  // Short rows: column sums of the (N, C*inner) matrix, contiguous and independent lanes.
  const int64_t cols = c * inner;
  std::vector<double> col1(static_cast<size_t>(cols), 0.0), col2(static_cast<size_t>(cols), 0.0);
  std::vector<float> centre(static_cast<size_t>(cols), 0.0f);
  if (kind != Reduce::Sum)
    for (int64_t j = 0; j < cols; ++j) centre[static_cast<size_t>(j)] = m[j / inner];
  detail::parallel_region(threads_for(total, (cols + 63) / 64), [&](int tid, int team) {
    int64_t begin, end;
    share(cols, tid, team, &begin, &end);
    double* c1 = col1.data();
    double* c2 = col2.data();
    const float* mc = centre.data();
    for (int64_t i = 0; i < n; ++i) {
      const float* ra = a + i * cols;
      const float* rb = b ? b + i * cols : nullptr;
      if (kind == Reduce::Sum) {
        for (int64_t j = begin; j < end; ++j) c1[j] += ra[j];
      } else if (kind == Reduce::Dev) {
        for (int64_t j = begin; j < end; ++j) {
          const double d = static_cast<double>(ra[j]) - mc[j];
          c1[j] += d;
          c2[j] += d * d;
        }
      } else {
        for (int64_t j = begin; j < end; ++j) {
          c1[j] += ra[j];
          c2[j] += static_cast<double>(ra[j]) * (static_cast<double>(rb[j]) - mc[j]);
        }
      }
    }
  });
  for (int64_t ch = 0; ch < c; ++ch) {
    double t1 = 0.0, t2 = 0.0;
    for (int64_t i = 0; i < inner; ++i) t1 += col1[static_cast<size_t>(ch * inner + i)], t2 += col2[static_cast<size_t>(ch * inner + i)];
    s1[ch] = t1, s2[ch] = t2;
  }
}

void check_forward(const BatchNormParams& p) {
  FASTCNN_CHECK(p.n >= 0 && p.c >= 1 && p.inner >= 0, "batch_norm: bad sizes N=", p.n, " C=", p.c,
                " inner=", p.inner);
  FASTCNN_CHECK(p.eps >= 0.0f && std::isfinite(p.eps), "batch_norm: eps must be finite and >= 0, got ", p.eps);
  FASTCNN_CHECK((p.running_mean == nullptr) == (p.running_var == nullptr),
                "batch_norm: running_mean and running_var must both be given or both be None");
  if (p.training) {
    FASTCNN_CHECK(p.n * p.inner > 1, "batch_norm: Expected more than 1 value per channel when training, got input size (",
                  p.n, ", ", p.c, ", ", p.inner, ")");
  } else {
    FASTCNN_CHECK(p.running_mean != nullptr, "batch_norm: running_mean and running_var are required in eval mode");
  }
  FASTCNN_CHECK(p.save_mean && p.save_invstd, "batch_norm: save_mean / save_invstd are null");
  if (p.n * p.inner > 0) FASTCNN_CHECK(p.x && p.out, "batch_norm: x or out is null");
}

}  // namespace

void batch_norm_forward(const BatchNormParams& p) {
  check_forward(p);
  const int64_t n = p.n, c = p.c, inner = p.inner, count = n * inner;
  std::vector<float> scale(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
  // true mean - save_mean (save_mean is the mean rounded to float): folded into the shift,
  // so out stays accurate when the mean is large next to the spread.
  std::vector<double> rounding(static_cast<size_t>(c), 0.0);
  if (p.training) {
    std::vector<double> s1(static_cast<size_t>(c)), s2(static_cast<size_t>(c));
    channel_reduce(Reduce::Sum, n, c, inner, p.x, nullptr, nullptr, s1.data(), s2.data());
    for (int64_t ch = 0; ch < c; ++ch) p.save_mean[ch] = static_cast<float>(s1[ch] / count);
    channel_reduce(Reduce::Dev, n, c, inner, p.x, nullptr, p.save_mean, s1.data(), s2.data());
    for (int64_t ch = 0; ch < c; ++ch) {
      const double offset = s1[ch] / count;  // true mean - save_mean
      const double var = std::max(0.0, s2[ch] / count - offset * offset);
      const double mean = p.save_mean[ch] + offset;
      p.save_mean[ch] = static_cast<float>(mean);
      rounding[ch] = mean - static_cast<double>(p.save_mean[ch]);
      p.save_invstd[ch] = static_cast<float>(1.0 / std::sqrt(var + p.eps));
      if (p.running_mean) {
        const double unbiased = var * count / (count - 1);
        p.running_mean[ch] = static_cast<float>((1.0 - p.momentum) * p.running_mean[ch] + p.momentum * mean);
        p.running_var[ch] = static_cast<float>((1.0 - p.momentum) * p.running_var[ch] + p.momentum * unbiased);
      }
    }
  } else {
    for (int64_t ch = 0; ch < c; ++ch) {
      p.save_mean[ch] = p.running_mean[ch];
      p.save_invstd[ch] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.running_var[ch]) + p.eps));
    }
  }
  for (int64_t ch = 0; ch < c; ++ch) {
    scale[ch] = p.save_invstd[ch] * (p.weight ? p.weight[ch] : 1.0f);
    shift[ch] = static_cast<float>((p.bias ? p.bias[ch] : 0.0) - rounding[ch] * scale[ch]);
  }
  if (count == 0) return;
  const BnRowKernels& k = row_kernels();
  for_each_row(n * c, inner, [&](int64_t r) {
    const int64_t ch = r % c;
    k.apply(p.x + r * inner, p.out + r * inner, inner, p.save_mean[ch], scale[ch], shift[ch]);
  });
}

void batch_norm_backward(const BatchNormBackwardParams& p) {
  FASTCNN_CHECK(p.n >= 0 && p.c >= 1 && p.inner >= 0, "batch_norm_backward: bad sizes N=", p.n, " C=", p.c,
                " inner=", p.inner);
  FASTCNN_CHECK(p.save_mean && p.save_invstd, "batch_norm_backward: save_mean / save_invstd are null");
  FASTCNN_CHECK((p.grad_weight == nullptr) == (p.grad_bias == nullptr),
                "batch_norm_backward: grad_weight and grad_bias must both be given or both be null");
  const int64_t n = p.n, c = p.c, inner = p.inner, count = n * inner;
  if (count > 0) FASTCNN_CHECK(p.grad_out && p.x && p.grad_input, "batch_norm_backward: an array is null");
  const bool need_sums = p.training || p.grad_weight != nullptr;
  std::vector<double> s1(static_cast<size_t>(c), 0.0), s2(static_cast<size_t>(c), 0.0);
  if (need_sums && count > 0) {
    channel_reduce(Reduce::Grad, n, c, inner, p.grad_out, p.x, p.save_mean, s1.data(), s2.data());
  }
  std::vector<float> ca(static_cast<size_t>(c)), cb(static_cast<size_t>(c)), cc(static_cast<size_t>(c));
  for (int64_t ch = 0; ch < c; ++ch) {
    const double invstd = p.save_invstd[ch];
    const double w = p.weight ? p.weight[ch] : 1.0;
    if (p.grad_weight) {
      p.grad_weight[ch] = static_cast<float>(s2[ch] * invstd);
      p.grad_bias[ch] = static_cast<float>(s1[ch]);
    }
    const double a = w * invstd;
    ca[ch] = static_cast<float>(a);
    if (p.training) {  // dx = a * (dy - mean(dy) - xhat * mean(dy * xhat))
      cb[ch] = static_cast<float>(-a * invstd * invstd * s2[ch] / count);
      cc[ch] = static_cast<float>(-a * s1[ch] / count);
    } else {
      cb[ch] = 0.0f, cc[ch] = 0.0f;
    }
  }
  if (count == 0) return;
  const BnRowKernels& k = row_kernels();
  for_each_row(n * c, inner, [&](int64_t r) {
    const int64_t ch = r % c;
    const float* x = p.training ? p.x + r * inner : nullptr;
    k.apply_bwd(p.grad_out + r * inner, x, p.grad_input + r * inner, inner, p.save_mean[ch], ca[ch], cb[ch], cc[ch]);
  });
}

}  // namespace fastcnn::cpu
