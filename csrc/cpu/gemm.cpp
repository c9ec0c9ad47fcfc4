// The public CPU GEMM: checks arguments, handles the degenerate cases, picks the
// micro-kernel for this CPU and the thread count for the problem size.
#include <algorithm>
#include <cmath>
#include <limits>

#include "common/check.h"
#include "common/parallel.h"
#include "cpu/gemm_config.h"
#include "cpu/gemm_kernels.h"
#include "cpu/gemm_rows.h"
#include "fastcnn/gemm.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

#if defined(FASTCNN_HAVE_AVX2_KERNELS)
double peak_probe_avx2(int threads, double seconds);  // peak_probe_avx2.cpp
#endif

namespace {

void check_params(const GemmParams& p) {
  FASTCNN_CHECK(p.m >= 0 && p.n >= 0 && p.k >= 0, "gemm: sizes must be >= 0, got M=", p.m, " N=", p.n,
                " K=", p.k);
  const int64_t a_cols = p.trans_a ? p.m : p.k;
  const int64_t b_cols = p.trans_b ? p.k : p.n;
  FASTCNN_CHECK(p.packed_a || p.lda >= std::max<int64_t>(1, a_cols), "gemm: lda=", p.lda,
                " is smaller than A's row length ", a_cols);
  FASTCNN_CHECK(p.ldb >= std::max<int64_t>(1, b_cols), "gemm: ldb=", p.ldb, " is smaller than B's row length ",
                b_cols);
  FASTCNN_CHECK(p.ldc >= std::max<int64_t>(1, p.n), "gemm: ldc=", p.ldc, " is smaller than N=", p.n);
  if (p.m > 0 && p.n > 0) FASTCNN_CHECK(p.c != nullptr, "gemm: C is null");
  if (p.m > 0 && p.n > 0 && p.k > 0) FASTCNN_CHECK((p.a || p.packed_a) && p.b, "gemm: A or B is null");
  if (p.epilogue.bias_mode != BiasMode::None) FASTCNN_CHECK(p.epilogue.bias != nullptr, "gemm: bias is null");
}

// C = epilogue(beta * C): the whole GEMM when K == 0 or alpha == 0 (A and B are not read,
// as in BLAS, so an Inf in them cannot turn into NaN).
void scale_and_epilogue(const GemmParams& p) {
  for (int64_t i = 0; i < p.m; ++i) {
    float* row = p.c + i * p.ldc;
    for (int64_t j = 0; j < p.n; ++j) {
      float value = p.beta == 0.0f ? 0.0f : p.beta * row[j];
      if (p.epilogue.bias_mode == BiasMode::PerRow) value += p.epilogue.bias[i];
      if (p.epilogue.bias_mode == BiasMode::PerColumn) value += p.epilogue.bias[j];
      if (p.epilogue.relu && value < 0.0f) value = 0.0f;
      row[j] = value;
    }
  }
}

GemmKernels active_kernels() {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) return {gemm_ukernel_avx2_6x16, gemm_edge_ukernel_avx2};
#endif
  return {gemm_ukernel_ref_6x16, gemm_edge_ukernel_ref};
}

// Threads worth waking for one GEMM: each must get kMinFmasPerThread multiply-adds.
int threads_for(const GemmParams& p, int available) {
  const double fmas = static_cast<double>(p.m) * p.n * p.k;
  const double useful = std::floor(fmas / gemm_config::kMinFmasPerThread);
  return static_cast<int>(std::max(1.0, std::min<double>(available, useful)));
}

void run_checked(const GemmParams& p, const GemmKernels& kernels, int threads) {
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0 || p.alpha == 0.0f) {
    detail::parallel_region(1, [&](int, int) { scale_and_epilogue(p); });
    return;
  }
  if (gemm_rows_applies(p)) {
    // Columns split over the threads: each C entry is one thread's dot product, so the
    // result does not depend on the thread count.
    auto rows = gemm_rows_ref;
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
    if (active_isa() == Isa::Avx2) rows = gemm_rows_avx2;
#endif
    detail::parallel_region(threads, [&](int tid, int team) { rows(p, p.n * tid / team, p.n * (tid + 1) / team); });
    return;
  }
  gemm_blocked(p, kernels, threads);
}

}  // namespace

void gemm(const GemmParams& params) { gemm_with_threads(params, get_num_threads()); }

void gemm_with_threads(const GemmParams& params, int threads) {
  check_params(params);
  run_checked(params, active_kernels(), threads_for(params, threads));
}

void gemm_strided_batched(const GemmParams& params, int64_t batch, int64_t stride_a, int64_t stride_b,
                          int64_t stride_c) {
  check_params(params);
  FASTCNN_CHECK(batch >= 0, "gemm_strided_batched: batch must be >= 0, got ", batch);
  FASTCNN_CHECK(stride_a >= 0 && stride_b >= 0, "gemm_strided_batched: strides must be >= 0");
  FASTCNN_CHECK(!params.packed_a || stride_a == 0, "gemm_strided_batched: a pre-packed A is one matrix (stride_a 0)");
  const int64_t c_extent = params.m == 0 || params.n == 0 ? 0 : (params.m - 1) * params.ldc + params.n;
  FASTCNN_CHECK(batch <= 1 || stride_c >= c_extent, "gemm_strided_batched: stride_c=", stride_c,
                " makes the outputs overlap (each C spans ", c_extent, " floats)");
  if (batch == 0) return;
  const GemmKernels kernels = active_kernels();
  const int threads = get_num_threads();
  auto item = [&](int64_t index) {
    GemmParams p = params;
    p.a += index * stride_a;
    p.b += index * stride_b;
    p.c += index * stride_c;
    return p;
  };
  // Small matrices: one thread per matrix. Large ones: all threads inside each GEMM.
  if (threads_for(params, threads) == 1 && batch > 1) {
    detail::parallel_region(static_cast<int>(std::min<int64_t>(threads, batch)), [&](int tid, int team) {
      for (int64_t index = tid; index < batch; index += team) run_checked(item(index), kernels, 1);
    });
    return;
  }
  for (int64_t index = 0; index < batch; ++index) {
    const GemmParams p = item(index);
    run_checked(p, kernels, threads_for(p, threads));
  }
}

double measure_peak_gflops(int threads, double seconds) {
  FASTCNN_CHECK(threads >= 1, "measure_peak_gflops: threads must be >= 1, got ", threads);
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (isa_supported(Isa::Avx2)) return peak_probe_avx2(threads, seconds);
#endif
  (void)seconds;
  return std::numeric_limits<double>::quiet_NaN();  // no probe for this CPU
}

}  // namespace fastcnn::cpu
