// The public CPU convolution: checks, the choice of algorithm per shape, dispatch, and
// the bias gradient (a plain reduction every algorithm shares).
#include <algorithm>

#include "common/check.h"
#include "common/parallel.h"
#include "cpu/conv_direct_pixels.h"
#include "cpu/conv_kernels.h"
#include "fastcnn/conv.h"
#include "fastcnn/runtime.h"

namespace fastcnn {

const char* conv_algorithm_name(ConvAlgorithm algorithm) {
  switch (algorithm) {
    case ConvAlgorithm::Auto: return "auto";
    case ConvAlgorithm::Gemm1x1: return "gemm1x1";
    case ConvAlgorithm::Im2col: return "im2col";
    case ConvAlgorithm::Depthwise: return "depthwise";
    case ConvAlgorithm::Winograd: return "winograd";
    case ConvAlgorithm::Direct: return "direct";
    case ConvAlgorithm::DirectPixels: return "direct_pixels";
  }
  return "?";
}

namespace cpu {

namespace {

constexpr int64_t kMaxDepthwiseTaps = 64 * 64;  // the stack buffer of depthwise backward-weight

bool is_depthwise(const Conv2dParams& p) {
  return p.groups == p.in_channels && p.out_channels == p.in_channels && p.kernel_h * p.kernel_w <= kMaxDepthwiseTaps;
}

bool is_pointwise(const Conv2dParams& p) {
  return p.kernel_h == 1 && p.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
         p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0;
}

bool is_winograd_3x3(const Conv2dParams& p) {
  return p.kernel_h == 3 && p.kernel_w == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 &&
         p.dilation_w == 1 && p.groups == 1;
}

bool is_stride_1(const Conv2dParams& p) { return p.stride_h == 1 && p.stride_w == 1; }

// Pixels in lanes (direct_pixels) where a pass has few output channels: its tile holds 6,
// "direct" 16, im2col's GEMM at most a few rows. Measured on 1 thread, 32 images (us):
//   forward, C->K rows:  1->1 @28 138 (direct 342, im2col 459); 1->6 @28 (LeNet conv1) 188
//   (im2col 540); 3->4 @30 123 (306); 6->6 @14 87 (159); 3->8 @30 232 (direct 331);
//   64->8 @26 4212 (5147); but 16->8 @12 257 (direct 222): with 7-8 channels (two blocks,
//   6 + 2) the pixel tiles pay only on rows of 24+.
//   weight gradient: 1->1, 1->2, 3->4, 6->6 and LeNet's conv1 1.3-2.4x faster than direct;
//   with 8 channels direct won (217 vs 362, 3820 vs 5993).
bool pixels_pay(const Conv2dParams& p) {
  if (p.groups != 1 || p.stride_w != 1) return false;
  return (p.out_channels <= 6 && p.out_w() >= 12) || (p.out_channels <= 8 && p.out_w() >= 24);
}

bool pixels_pay_for_weight(const Conv2dParams& p) {
  return p.groups == 1 && p.stride_w == 1 && p.out_channels <= 6 && p.out_w() >= 8;
}

// The input gradient is a stride-1 convolution of grad_y with in_channels outputs; the
// tiles idle below 4 of them. Measured on 1 thread, 32 images, 5x5 filters @14 (us),
// C->16: C=2 266 (im2col 174), 3 270 (244), 4 274 (318), 6 (LeNet conv2) 284 (455),
// 8 517 (604), 12 537 (905); 1->6 @32 520 (357); 8->8 3x3 @28 520 (827). Larger layers
// were not measured: im2col's GEMM keeps them.
bool pixels_pay_for_backward_data(const Conv2dParams& p) {
  return p.groups == 1 && is_stride_1(p) && p.in_channels >= 4 && p.in_channels <= 12 && p.out_channels <= 16 &&
         p.in_w >= 12;
}

ConvAlgorithm resolve(const Conv2dParams& p, ConvAlgorithm algorithm, const char* op) {
  if (algorithm == ConvAlgorithm::Auto) return conv2d_choose_algorithm(p);
  FASTCNN_CHECK(conv2d_algorithm_supports(algorithm, p), op, ": algorithm '", conv_algorithm_name(algorithm),
                "' cannot compute this convolution (kernel ", p.kernel_h, "x", p.kernel_w, ", stride ", p.stride_h,
                "x", p.stride_w, ", groups ", p.groups, ", channels ", p.in_channels, "->", p.out_channels, ")");
  return algorithm;
}

// The sum of a plane in 32 interleaved partial sums (the compiler keeps them in vector
// registers): one running float sum waited on each addition's latency, ~3 cycles per
// element, which made LeNet's conv1 bias gradient (301K elements) cost more than its
// weight gradient. The order is fixed, so the bits do not depend on the thread count.
float plane_sum(const float* plane, int64_t n) {
  constexpr int64_t kPartials = 32;
  float partial[kPartials] = {};
  int64_t i = 0;
  for (; i + kPartials <= n; i += kPartials) {
    for (int64_t j = 0; j < kPartials; ++j) partial[j] += plane[i + j];
  }
  for (int64_t j = 0; i + j < n; ++j) partial[j] += plane[i + j];
  for (int64_t width = kPartials / 2; width > 0; width /= 2) {
    for (int64_t j = 0; j < width; ++j) partial[j] += partial[j + width];
  }
  return partial[0];
}

}  // namespace

void conv2d_check(const Conv2dParams& p) {
  FASTCNN_CHECK(p.batch >= 0, "conv2d: batch must be >= 0, got ", p.batch);
  FASTCNN_CHECK(p.in_channels >= 1 && p.out_channels >= 1, "conv2d: channels must be >= 1, got in_channels=",
                p.in_channels, " out_channels=", p.out_channels);
  FASTCNN_CHECK(p.in_h >= 1 && p.in_w >= 1, "conv2d: input size must be >= 1, got ", p.in_h, "x", p.in_w);
  FASTCNN_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1, "conv2d: kernel size must be >= 1, got ", p.kernel_h, "x",
                p.kernel_w);
  FASTCNN_CHECK(p.stride_h >= 1 && p.stride_w >= 1, "conv2d: stride must be >= 1, got ", p.stride_h, "x",
                p.stride_w);
  FASTCNN_CHECK(p.dilation_h >= 1 && p.dilation_w >= 1, "conv2d: dilation must be >= 1, got ", p.dilation_h, "x",
                p.dilation_w);
  FASTCNN_CHECK(p.pad_top >= 0 && p.pad_bottom >= 0 && p.pad_left >= 0 && p.pad_right >= 0,
                "conv2d: padding must be >= 0");
  FASTCNN_CHECK(p.groups >= 1 && p.in_channels % p.groups == 0 && p.out_channels % p.groups == 0,
                "conv2d: groups=", p.groups, " must divide in_channels=", p.in_channels,
                " and out_channels=", p.out_channels);
  // Bounded so that the geometry below and every element count and workspace size the
  // kernels compute in int64 cannot overflow (reached with empty or 0-stride arrays, or
  // conv2d_choose_algorithm's bare shapes, which claim sizes no memory holds).
  constexpr int64_t kMaxSize = (int64_t{1} << 31) - 1;
  for (int64_t v : {p.batch, p.in_channels, p.out_channels, p.in_h, p.in_w, p.kernel_h, p.kernel_w, p.stride_h,
                    p.stride_w, p.dilation_h, p.dilation_w, p.pad_top, p.pad_bottom, p.pad_left, p.pad_right}) {
    FASTCNN_CHECK(v <= kMaxSize, "conv2d: sizes, strides, paddings and dilations must be < 2^31, got ", v);
  }
  const int64_t span_h = p.dilation_h * (p.kernel_h - 1) + 1, span_w = p.dilation_w * (p.kernel_w - 1) + 1;
  FASTCNN_CHECK(span_h <= p.in_h + p.pad_top + p.pad_bottom && span_w <= p.in_w + p.pad_left + p.pad_right,
                "conv2d: kernel ", span_h, "x", span_w, " (dilated) is larger than the padded input ",
                p.in_h + p.pad_top + p.pad_bottom, "x", p.in_w + p.pad_left + p.pad_right);
  // Element counts of input, weight, output and the im2col columns of one image: each
  // must fit int64 (sizes are < 2^31, so one multiplication at a time is checked).
  const int64_t counts[][4] = {{p.batch, p.in_channels, p.in_h, p.in_w},
                               {p.out_channels, p.in_channels / p.groups, p.kernel_h, p.kernel_w},
                               {p.batch, p.out_channels, p.out_h(), p.out_w()},
                               {p.in_channels, p.kernel_h * p.kernel_w, p.out_h(), p.out_w()}};
  for (const auto& dims : counts) {
    int64_t n = 1;
    for (int64_t d : dims) {
      FASTCNN_CHECK(!__builtin_mul_overflow(n, d, &n) && n <= (int64_t{1} << 62), "conv2d: the convolution of input ",
                    p.batch, "x", p.in_channels, "x", p.in_h, "x", p.in_w, " with kernel ", p.kernel_h, "x",
                    p.kernel_w, " has more than 2^62 elements in a tensor or workspace");
    }
  }
}

bool conv2d_algorithm_supports(ConvAlgorithm algorithm, const Conv2dParams& p) {
  switch (algorithm) {
    case ConvAlgorithm::Auto: return true;
    case ConvAlgorithm::Gemm1x1: return is_pointwise(p);
    case ConvAlgorithm::Im2col: return true;
    case ConvAlgorithm::Depthwise: return is_depthwise(p);
    case ConvAlgorithm::Winograd: return is_winograd_3x3(p);
    case ConvAlgorithm::Direct: return p.groups == 1;
    case ConvAlgorithm::DirectPixels: return p.groups == 1 && p.stride_w == 1;
  }
  return false;
}

// The heuristic, in order: depthwise filters run directly (a GEMM per channel would have
// one row); 1x1 convolutions are already GEMMs; layers with up to 6 output channels (8 on
// wide rows) and stride_w 1 run directly with pixels in lanes (see pixels_pay; LeNet's
// conv1: 2.9x faster than im2col on 1 thread); 3x3 stride-1 layers with enough channels
// and output tiles to amortize the transforms use Winograd (2.25x fewer multiplies:
// 1.3-1.6x faster than im2col from 64 to 512 channels; with fewer than 16 channels the
// tile transforms dominate, see winograd_pays for the tiles); layers with 9 to 16 output
// channels (one full vector block) run directly (LeNet's conv2: 2.7x faster than im2col, whose
// unfolding feeds only 16 multiply-adds per float written; with 8 or fewer channels
// too many lanes idle, with more im2col's GEMM wins); everything else unfolds (im2col).
// Winograd also needs enough 2x2 output tiles over the batch to amortize transforming the
// filters (16 floats per filter pair, every call): at batch 1, ResNet's 7x7 layers (16
// tiles, 512 channels) ran 0.54x im2col's speed, and 0.85x at batch 4 (64 tiles), whose
// 16 MiB of transformed filters no longer stay in cache; 14x14 with 256 channels (49
// tiles, 4 MiB) still ran 1.34x faster, and every layer with 128+ tiles 1.3-1.6x.
// Where the forward pass takes Winograd, so does the weight gradient: 1.05-1.44x faster
// than im2col's from 16 to 512 channels (batch 8, one thread, CPU time).
bool winograd_pays(const Conv2dParams& p) {
  const int64_t tiles = p.batch * ((p.out_h() + 1) / 2) * ((p.out_w() + 1) / 2);
  const int64_t transformed_filter_bytes = 64 * p.out_channels * p.in_channels;
  return tiles >= 128 || (tiles >= 32 && transformed_filter_bytes <= (int64_t(8) << 20));
}

ConvAlgorithm conv2d_choose_algorithm(const Conv2dParams& p) {
  constexpr int64_t kWinogradMinChannels = 16;
  if (is_depthwise(p)) return ConvAlgorithm::Depthwise;
  if (is_pointwise(p)) return ConvAlgorithm::Gemm1x1;
  if (pixels_pay(p)) return ConvAlgorithm::DirectPixels;
  if (p.groups == 1 && p.out_channels > 8 && p.out_channels <= 16) return ConvAlgorithm::Direct;
  // Strided layers with few input channels (the stems: ResNet's 7x7/2, AlexNet's 11x11/4)
  // also run directly: unfolding a strided input gathers every tap for few multiply-adds,
  // direct reads the image in place. Forward 1.2-1.9x and weight gradient 1.5-2.3x faster
  // than im2col below 32 input channels (one thread, 32 to 96 output channels); even at
  // 32 input channels, 0.78x at 64.
  if (p.groups == 1 && (p.stride_h > 1 || p.stride_w > 1) && p.kernel_h * p.kernel_w > 1 && p.in_channels < 32 &&
      p.out_channels > 16) {
    return ConvAlgorithm::Direct;
  }
  if (is_winograd_3x3(p) && p.in_channels >= kWinogradMinChannels && p.out_channels >= kWinogradMinChannels &&
      winograd_pays(p)) {
    return ConvAlgorithm::Winograd;
  }
  return ConvAlgorithm::Im2col;
}

void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, bool relu, float* y,
                    ConvAlgorithm algorithm) {
  conv2d_check(p);
  if (p.batch == 0) return;
  switch (resolve(p, algorithm, "conv2d")) {
    case ConvAlgorithm::Depthwise: return conv2d_depthwise_forward(p, x, w, bias, relu, y);
    case ConvAlgorithm::Winograd: return conv2d_winograd_forward(p, x, w, bias, relu, y);
    case ConvAlgorithm::Direct: return conv2d_direct_forward(p, x, w, bias, relu, y);
    case ConvAlgorithm::DirectPixels: return conv2d_direct_pixels_forward(p, x, w, bias, relu, y);
    case ConvAlgorithm::Gemm1x1: return conv2d_gemm_forward(p, true, x, w, bias, relu, y);
    default: return conv2d_gemm_forward(p, false, x, w, bias, relu, y);
  }
}

void conv2d_backward_data(const Conv2dParams& p, const float* grad_y, const float* w, float* grad_x,
                          ConvAlgorithm algorithm) {
  conv2d_check(p);
  if (p.batch == 0) return;
  ConvAlgorithm chosen = resolve(p, algorithm, "conv2d_backward_data");
  if (algorithm == ConvAlgorithm::Auto) {  // the input gradient's own measurements decide, not the forward's
    const bool pixels = pixels_pay_for_backward_data(p);
    if (pixels && (chosen == ConvAlgorithm::Im2col || chosen == ConvAlgorithm::Direct)) {
      chosen = ConvAlgorithm::DirectPixels;
    } else if (!pixels && chosen == ConvAlgorithm::DirectPixels) {
      chosen = ConvAlgorithm::Im2col;
    }
  }
  if (chosen == ConvAlgorithm::DirectPixels && !is_stride_1(p)) chosen = ConvAlgorithm::Im2col;
  switch (chosen) {
    case ConvAlgorithm::DirectPixels: return conv2d_direct_pixels_backward_data(p, grad_y, w, grad_x);
    case ConvAlgorithm::Direct: return conv2d_gemm_backward_data(p, false, grad_y, w, grad_x);
    case ConvAlgorithm::Winograd: return conv2d_winograd_backward_data(p, grad_y, w, grad_x);
    case ConvAlgorithm::Depthwise: return conv2d_depthwise_backward_data(p, grad_y, w, grad_x);
    case ConvAlgorithm::Gemm1x1: return conv2d_gemm_backward_data(p, true, grad_y, w, grad_x);
    default: return conv2d_gemm_backward_data(p, false, grad_y, w, grad_x);
  }
}

void conv2d_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y, float* grad_w,
                            float* grad_bias, ConvAlgorithm algorithm) {
  conv2d_check(p);
  ConvAlgorithm chosen = resolve(p, algorithm, "conv2d_backward_weight");
  // With at most 16 output channels (one vector block) the direct weight gradient beat
  // im2col's at every layer measured, 1.4-2.9x, also where the forward pass unfolds
  // (LeNet's conv1: 657 -> 408 us at 2 threads); with 6 or fewer pixels in lanes beat it
  // (pixels_pay_for_weight).
  if (algorithm == ConvAlgorithm::Auto &&
      (chosen == ConvAlgorithm::Im2col || chosen == ConvAlgorithm::Direct || chosen == ConvAlgorithm::DirectPixels) &&
      p.groups == 1 && p.out_channels <= 16) {
    chosen = pixels_pay_for_weight(p) ? ConvAlgorithm::DirectPixels : ConvAlgorithm::Direct;
  }
  const int64_t weight_size = p.out_channels * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w;
  if (p.batch == 0) {
    std::fill(grad_w, grad_w + weight_size, 0.0f);
    if (grad_bias) std::fill(grad_bias, grad_bias + p.out_channels, 0.0f);
    return;
  }
  switch (chosen) {
    case ConvAlgorithm::Depthwise: conv2d_depthwise_backward_weight(p, x, grad_y, grad_w); break;
    case ConvAlgorithm::Gemm1x1: conv2d_gemm_backward_weight(p, true, x, grad_y, grad_w); break;
    case ConvAlgorithm::Direct: conv2d_direct_backward_weight(p, x, grad_y, grad_w); break;
    case ConvAlgorithm::Winograd: conv2d_winograd_backward_weight(p, x, grad_y, grad_w); break;
    case ConvAlgorithm::DirectPixels: conv2d_direct_pixels_backward_weight(p, x, grad_y, grad_w); break;
    default: conv2d_gemm_backward_weight(p, false, x, grad_y, grad_w); break;
  }
  if (!grad_bias) return;
  // grad_bias[k] = sum of grad_y over the batch and the pixels of channel k.
  const int64_t pixels = p.out_h() * p.out_w();
  const int threads = static_cast<int>(std::clamp<int64_t>(p.batch * p.out_channels * pixels >> 16, 1,
                                                           std::min<int64_t>(get_num_threads(), p.out_channels)));
  detail::parallel_region(threads, [&](int tid, int team) {
    for (int64_t k = p.out_channels * tid / team; k < p.out_channels * (tid + 1) / team; ++k) {
      double sum = 0.0;
      for (int64_t n = 0; n < p.batch; ++n) sum += plane_sum(grad_y + (n * p.out_channels + k) * pixels, pixels);
      grad_bias[k] = static_cast<float>(sum);
    }
  });
}

}  // namespace cpu
}  // namespace fastcnn
