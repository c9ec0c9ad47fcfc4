// Dropout on flat float32 arrays: a Bernoulli keep-mask (uint8 0/1) from a counter-based
// generator, and out = x * mask / (1 - p).
// Element i's random bits are splitmix64's output number (offset + i) for the stream
// keyed by `seed`: mix64(key + (offset + i) * gamma), key = mix64(seed + gamma). So the
// mask depends only on (seed, offset, i), never on threads or on how the work is cut,
// and a later call with offset += count continues the same stream.
#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "common/parallel.h"
#include "fastcnn/norm.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {
namespace {

constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ull;
constexpr int64_t kMinPerThread = int64_t{1} << 16;

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <class Body>
void for_chunks(int64_t count, const Body& body) {
  const int64_t useful = std::max<int64_t>(1, count / kMinPerThread);
  const int threads = static_cast<int>(std::min<int64_t>(get_num_threads(), useful));
  detail::parallel_region(threads, [&](int tid, int team) {
    body(count * tid / team, count * (tid + 1) / team);
  });
}

}  // namespace

void bernoulli_mask(uint8_t* mask, int64_t count, double p, uint64_t seed, uint64_t offset) {
  FASTCNN_CHECK(p >= 0.0 && p <= 1.0, "bernoulli_mask: p must be in [0, 1], got ", p);
  FASTCNN_CHECK(count >= 0, "bernoulli_mask: count must be >= 0, got ", count);
  if (count == 0) return;
  FASTCNN_CHECK(mask != nullptr, "bernoulli_mask: mask is null");
  // keep <=> top 32 bits < threshold: P(keep) = floor((1-p) 2^32) / 2^32; exact at p = 0, 1.
  const uint64_t threshold = static_cast<uint64_t>(std::floor((1.0 - p) * 4294967296.0));
  const uint64_t key = mix64(seed + kGamma);
  for_chunks(count, [&](int64_t begin, int64_t end) {
    uint64_t state = key + (offset + static_cast<uint64_t>(begin)) * kGamma;
    for (int64_t i = begin; i < end; ++i, state += kGamma) {
      mask[i] = static_cast<uint8_t>((mix64(state) >> 32) < threshold);
    }
  });
}

void dropout_apply(const float* x, const uint8_t* mask, float* out, int64_t count, double p) {
  FASTCNN_CHECK(p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got ", p);
  FASTCNN_CHECK(count >= 0, "dropout: count must be >= 0, got ", count);
  if (count == 0) return;
  FASTCNN_CHECK(x && mask && out, "dropout: an array is null");
  const float scale = p == 1.0 ? 0.0f : static_cast<float>(1.0 / (1.0 - p));
  for_chunks(count, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = mask[i] ? x[i] * scale : 0.0f;
  });
}

}  // namespace fastcnn::cpu
