// The machine's FMA peak, measured: each thread runs 12 independent chains of 8-wide FMAs
// from registers only (no memory traffic), enough to fill both FMA pipes. GEMM efficiency
// in the benchmarks is quoted against this figure.
#include <immintrin.h>

#include <atomic>
#include <chrono>

#include "common/parallel.h"

namespace fastcnn::cpu {

namespace {

constexpr int kChains = 12;
constexpr int64_t kStepsPerCheck = 1 << 16;

double probe_one_thread(double seconds, float* sink) {
  volatile float one = 1.0f, zero = 0.0f;  // opaque to the compiler, so the FMAs stay
  const __m256 x = _mm256_set1_ps(one), y = _mm256_set1_ps(zero);
  __m256 acc[kChains];
  for (int r = 0; r < kChains; ++r) acc[r] = _mm256_set1_ps(static_cast<float>(r));
  const auto start = std::chrono::steady_clock::now();
  int64_t steps = 0;
  double elapsed = 0;
  do {
    for (int64_t s = 0; s < kStepsPerCheck; ++s) {
#pragma GCC unroll 12
      for (int r = 0; r < kChains; ++r) acc[r] = _mm256_fmadd_ps(acc[r], x, y);
    }
    steps += kStepsPerCheck;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  __m256 total = acc[0];
  for (int r = 1; r < kChains; ++r) total = _mm256_add_ps(total, acc[r]);
  *sink = _mm256_cvtss_f32(total);
  return static_cast<double>(steps) * kChains * 8 * 2 / elapsed * 1e-9;
}

}  // namespace

double peak_probe_avx2(int threads, double seconds) {
  std::atomic<double> total{0.0};
  float sinks[256] = {};
  detail::parallel_region(threads, [&](int tid, int) {
    const double gflops = probe_one_thread(seconds, &sinks[tid % 256]);
    double current = total.load();
    while (!total.compare_exchange_weak(current, current + gflops)) {
    }
  });
  return total.load();
}

}  // namespace fastcnn::cpu
