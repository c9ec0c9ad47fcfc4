// Bilinear resize of float32 NCHW images (all leading dims flattened into `planes`),
// torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)
// semantics: the source coordinate of output pixel o is (o + 0.5) * in / out - 0.5,
// clamped below at 0, with the right/bottom neighbour clamped to the last pixel.
// The scale is in/out (torch's default with an explicit `size`).
#pragma once

#include <cstdint>

namespace fastcnn::cpu {

struct ResizeParams {
  int64_t planes = 0;  // N * C
  int64_t in_h = 0, in_w = 0;
  int64_t out_h = 0, out_w = 0;
};

// x: planes x in_h x in_w, y: planes x out_h x out_w, both contiguous and disjoint.
void resize_bilinear_forward(const float* x, float* y, const ResizeParams& p);

}  // namespace fastcnn::cpu
