// Pre-packed convolution weights (fastcnn/conv.h, Conv2dPackedWeights): built once per
// layer and algorithm, then used by every forward pass instead of the raw weights.
#include <algorithm>

#include "common/check.h"
#include "cpu/conv_direct_pixels.h"
#include "cpu/conv_kernels.h"
#include "cpu/conv_packed_kernels.h"
#include "fastcnn/conv.h"

namespace fastcnn {

namespace {

// The smallest input p's kernel fits (conv2d_check needs one; the packing does not).
// Values out of conv2d_check's range are left for it to report, not computed with.
int64_t smallest_input(int64_t kernel, int64_t dilation, int64_t pad0, int64_t pad1) {
  constexpr int64_t kLimit = int64_t{1} << 31;
  for (int64_t v : {kernel, dilation, pad0, pad1}) {
    if (v < 0 || v >= kLimit) return 1;
  }
  return std::max<int64_t>(1, dilation * (kernel - 1) + 1 - pad0 - pad1);
}

Conv2dParams packing_params(const Conv2dParams& p) {
  Conv2dParams q = p;
  q.batch = 1;
  q.in_h = smallest_input(p.kernel_h, p.dilation_h, p.pad_top, p.pad_bottom);
  q.in_w = smallest_input(p.kernel_w, p.dilation_w, p.pad_left, p.pad_right);
  return q;
}

}  // namespace

Conv2dPackedWeights::Conv2dPackedWeights(const Conv2dParams& p, const float* w, ConvAlgorithm algorithm)
    : params_(packing_params(p)), algorithm_(algorithm) {
  cpu::conv2d_check(params_);
  FASTCNN_CHECK(algorithm != ConvAlgorithm::Auto,
                "conv2d_prepack: weights are packed for one algorithm; resolve 'auto' first");
  FASTCNN_CHECK(cpu::conv2d_algorithm_supports(algorithm, params_), "conv2d_prepack: algorithm '",
                conv_algorithm_name(algorithm), "' cannot compute this convolution (kernel ", p.kernel_h, "x",
                p.kernel_w, ", stride ", p.stride_h, "x", p.stride_w, ", groups ", p.groups, ", channels ",
                p.in_channels, "->", p.out_channels, ")");
  FASTCNN_CHECK(w != nullptr, "conv2d_prepack: weight is null");
  switch (algorithm) {
    case ConvAlgorithm::Im2col:
    case ConvAlgorithm::Gemm1x1:
      data_.resize(static_cast<size_t>(cpu::conv2d_gemm_packed_floats(params_)));
      cpu::conv2d_gemm_pack(params_, w, data_.data());
      break;
    case ConvAlgorithm::Winograd:
      data_.resize(static_cast<size_t>(cpu::conv2d_winograd_packed_floats(params_)));
      cpu::conv2d_winograd_pack(params_, w, data_.data());
      break;
    default:  // Direct, DirectPixels and Depthwise read the weights as they are
      data_.assign(w, w + p.out_channels * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w);
      break;
  }
}

namespace cpu {

// Measured at batch 1, one thread, packed against packed (3x3, padding 1, C = K): at 16
// tiles (7x7 outputs) Winograd ran 1.4x (64 channels) to 1.8x (512) faster than im2col,
// at 9 tiles level, at 4 or fewer 0.6x; with fewer than 16 channels the tile transforms
// dominate, as for Auto. Auto asks for 32-128 tiles because it transforms the filters
// on every call (ResNet-18's 7x7 layers: 8.3 ms with that, 1.9 ms packed, 3.4 ms im2col).
ConvAlgorithm conv2d_choose_packed_algorithm(const Conv2dParams& p) {
  constexpr int64_t kMinTiles = 16, kMinChannels = 16;
  const ConvAlgorithm chosen = conv2d_choose_algorithm(p);
  if (chosen != ConvAlgorithm::Im2col || !conv2d_algorithm_supports(ConvAlgorithm::Winograd, p)) return chosen;
  const int64_t tiles = p.batch * ((p.out_h() + 1) / 2) * ((p.out_w() + 1) / 2);
  const bool pays = tiles >= kMinTiles && p.in_channels >= kMinChannels && p.out_channels >= kMinChannels;
  return pays ? ConvAlgorithm::Winograd : chosen;
}

bool conv2d_packed_matches(const Conv2dParams& p, const Conv2dPackedWeights& w) {
  const Conv2dParams& q = w.params();
  return p.in_channels == q.in_channels && p.out_channels == q.out_channels && p.kernel_h == q.kernel_h &&
         p.kernel_w == q.kernel_w && p.stride_h == q.stride_h && p.stride_w == q.stride_w && p.pad_top == q.pad_top &&
         p.pad_bottom == q.pad_bottom && p.pad_left == q.pad_left && p.pad_right == q.pad_right &&
         p.dilation_h == q.dilation_h && p.dilation_w == q.dilation_w && p.groups == q.groups;
}

void conv2d_forward_packed(const Conv2dParams& p, const float* x, const Conv2dPackedWeights& w, const float* bias,
                           bool relu, float* y) {
  FASTCNN_CHECK(conv2d_packed_matches(p, w), "conv2d_packed: the convolution (", p.in_channels, "->",
                p.out_channels, " channels, kernel ", p.kernel_h, "x", p.kernel_w, ", groups ", p.groups,
                ") differs from the one the weights were packed for (", w.params().in_channels, "->",
                w.params().out_channels, " channels, kernel ", w.params().kernel_h, "x", w.params().kernel_w,
                ", groups ", w.params().groups, ") or in stride, padding or dilation");
  conv2d_check(p);
  if (p.batch == 0) return;
  switch (w.algorithm()) {
    case ConvAlgorithm::Im2col: return conv2d_gemm_forward_packed(p, false, x, w.data(), bias, relu, y);
    case ConvAlgorithm::Gemm1x1: return conv2d_gemm_forward_packed(p, true, x, w.data(), bias, relu, y);
    case ConvAlgorithm::Winograd: return conv2d_winograd_forward_packed(p, x, w.data(), bias, relu, y);
    case ConvAlgorithm::Depthwise: return conv2d_depthwise_forward(p, x, w.data(), bias, relu, y);
    case ConvAlgorithm::DirectPixels: return conv2d_direct_pixels_forward(p, x, w.data(), bias, relu, y);
    default: return conv2d_direct_forward(p, x, w.data(), bias, relu, y);
  }
}

}  // namespace cpu
}  // namespace fastcnn
