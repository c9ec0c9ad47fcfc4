// Bilinear resize, forward (see fastcnn/resize.h for the coordinate convention).
// Layout: planes x H x W, contiguous. The per-column source indices and weights are
// computed once per call; each output row blends two source rows (a vertical lerp into a
// row buffer of in_w floats) and then gathers horizontally, so the vertical pass is a
// plain loop the compiler vectorizes. Threads split the planes x out_h rows.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/check.h"
#include "common/parallel.h"
#include "fastcnn/resize.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

namespace {

struct Taps {
  std::vector<int64_t> lo, hi;
  std::vector<float> w_hi;  // weight of hi; lo gets 1 - w_hi
};

// torch's area_pixel_compute_source_index for align_corners=False, then its lerp indices.
Taps make_taps(int64_t in, int64_t out) {
  Taps t;
  t.lo.resize(out), t.hi.resize(out), t.w_hi.resize(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    int64_t lo = static_cast<int64_t>(src);
    if (lo > in - 1) lo = in - 1;
    const int64_t hi = lo + (lo < in - 1 ? 1 : 0);
    t.lo[o] = lo, t.hi[o] = hi, t.w_hi[o] = src - static_cast<float>(lo);
  }
  return t;
}

}  // namespace

void resize_bilinear_forward(const float* x, float* y, const ResizeParams& p) {
  FASTCNN_CHECK(p.planes >= 0 && p.in_h >= 1 && p.in_w >= 1 && p.out_h >= 1 && p.out_w >= 1,
                "resize: bad sizes planes=", p.planes, " in=", p.in_h, "x", p.in_w, " out=", p.out_h, "x", p.out_w);
  if (p.planes == 0) return;
  const Taps rows = make_taps(p.in_h, p.out_h);
  const Taps cols = make_taps(p.in_w, p.out_w);
  const int64_t total_rows = p.planes * p.out_h;
  const int64_t work = total_rows * (p.out_w + p.in_w);
  const int64_t useful = std::max<int64_t>(1, work / (32 * 1024));
  const int threads = static_cast<int>(std::min<int64_t>(fastcnn::get_num_threads(), useful));
  detail::parallel_region(threads, [&](int tid, int team) {
    std::vector<float> row(static_cast<size_t>(p.in_w));
    const int64_t begin = total_rows * tid / team, end = total_rows * (tid + 1) / team;
    for (int64_t r = begin; r < end; ++r) {
      const int64_t plane = r / p.out_h, oh = r % p.out_h;
      const float* src = x + plane * p.in_h * p.in_w;
      const float* a = src + rows.lo[oh] * p.in_w;
      const float* b = src + rows.hi[oh] * p.in_w;
      const float wb = rows.w_hi[oh], wa = 1.0f - wb;
      float* buf = row.data();
      for (int64_t i = 0; i < p.in_w; ++i) buf[i] = wa * a[i] + wb * b[i];
      float* dst = y + r * p.out_w;
      for (int64_t ow = 0; ow < p.out_w; ++ow) {
        const float w1 = cols.w_hi[ow];
        dst[ow] = (1.0f - w1) * buf[cols.lo[ow]] + w1 * buf[cols.hi[ow]];
      }
    }
  });
}

}  // namespace fastcnn::cpu
