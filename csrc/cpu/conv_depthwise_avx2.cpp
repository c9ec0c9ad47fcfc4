// Depthwise convolution with AVX2 + FMA (this file gets -mavx2 -mfma).
//
// The generic loops of conv_depthwise_impl.h (compiled here for AVX2 too) handle every
// shape. The fast paths below first copy each input plane (one plane ahead of its use,
// pipelined) into a zero-padded, phase-split buffer: phase q of padded row i
// holds padded columns q, q + stride, q + 2*stride, ... so the input under tap s for
// output columns ow..ow+7 is one unaligned 8-float load, for any stride and dilation, with
// no bounds checks. Output rows are computed up to 8 at a time in registers (8 independent
// FMA chains per tap); 3x3 filters 7 at a time with each input vector loaded once for all
// the rows it feeds.
//   forward          y[oh, ow]  = bias + sum_{r,s} w[r, s] * xpad[oh*sh + r*dh, ow*sw + s*dw]
//   backward data    stride 1 only: a forward pass of grad_y with the filter flipped
//   backward weight  grad_w[r, s] = sum_{oh,ow} grad_y[oh, ow] * xpad[...], 8 lanes per tap
#include <immintrin.h>

#include <vector>

#define FASTCNN_DEPTHWISE_NS depthwise_avx2
#include "cpu/conv_depthwise_impl.h"
#include "common/thread_buffer.h"
#include "cpu/avx2_row_loads.h"
#include "cpu/conv_util.h"

namespace fastcnn::cpu::depthwise_avx2 {

namespace {

constexpr int64_t kMaxTaps = 64;  // broadcast filter taps kept on the stack

// Where one plane's padded, phase-split copy lives and how it is indexed.
// Column j of a padded row sits at lead + j. With `zeros_kept` (stride 1 or 2, rows of 8
// or more, no crop), the buffer keeps its zeros from one plane to the next: each plane
// copies only its rows' data, for stride 1 to a lead that puts column 0 on 32 bytes.
struct PhasedPlane {
  int64_t stride, row_length, rows;  // row (i, phase q) starts at (i * stride + q) * row_length
  int64_t lead;
  bool zeros_kept;
};

// The plane geometry of a (possibly flipped) depthwise problem: what the fast paths see.
struct PlaneProblem {
  int64_t in_h, in_w, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
  int64_t pad_top, pad_left;  // may be negative: a crop (backward data with big padding)
  // The input is a smaller plane spread out with zeros between: its pixel (i, j) is this
  // plane's (i * spread_h, j * spread_w) (backward data of a strided convolution).
  int64_t spread_h = 1, spread_w = 1;

  // A row of 8 or more outputs ends with a chunk that overlaps the one before
  // (chunk_start), so reads stop at column max(out_w, 8) - 1 + reach: a 14-wide plane
  // needs rows of 16 floats, not 24, and its copy is a third shorter.
  PhasedPlane phased() const {
    const int64_t reach = (kernel_w - 1) * dilation_w / stride_w;
    const int64_t span = std::max<int64_t>(out_w, 8) + reach;
    const int64_t rows = (out_h - 1) * stride_h + (kernel_h - 1) * dilation_h + 1;
    if (stride_w == 1 && in_w >= 8 && pad_left >= 0) {
      const int64_t lead = (8 - pad_left % 8) % 8;
      const int64_t length = std::max(lead + span, lead + pad_left + in_w);
      return {1, (length + 7) / 8 * 8, rows, lead, true};
    }
    if (stride_w == 2 && in_w >= 8 && pad_left >= 0) {
      // Past the last column's phase index; a row shorter than 16 is split as 16 columns.
      const int64_t length = std::max({span, (in_w - 1 + pad_left) / 2 + 1, (pad_left + 1) / 2 + 8});
      return {2, (length + 7) / 8 * 8, rows, 0, true};
    }
    return {stride_w, (span + 7) / 8 * 8, rows, 0, false};
  }
};

// dst[j] = src[j - pad_left] where 0 <= j - pad_left < src_width, else 0, for j < dst_width
// (a multiple of 8, dst 32-byte aligned): one aligned store per 8 floats.
void copy_row_padded(const float* src, int64_t src_width, int64_t pad_left, float* dst, int64_t dst_width,
                     bool may_overread) {
  for (int64_t j = 0; j < dst_width; j += 8) _mm256_store_ps(dst + j, load_padded(src, src_width, j - pad_left, may_overread));
}

// fill_phased for a zeros_kept layout: only the rows' data, into a buffer already zeroed
// around it (PlanePlan::workspace).
void fill_data_only(const PlaneProblem& q, const PhasedPlane& layout, const float* x, float* buffer) {
  const int64_t row_floats = layout.stride * layout.row_length;
  for (int64_t ih = std::max<int64_t>(0, -q.pad_top); ih < q.in_h && ih + q.pad_top < layout.rows; ++ih) {
    const float* src = x + ih * q.in_w;
    float* dst = buffer + (ih + q.pad_top) * row_floats + layout.lead;
    if (layout.stride == 1) {  // aligned stores, the last 8 overlapping the ones before
      dst += q.pad_left;
      int64_t c = 0;
      for (; c + 8 <= q.in_w; c += 8) _mm256_store_ps(dst + c, _mm256_loadu_ps(src + c));
      if (c < q.in_w) _mm256_storeu_ps(dst + q.in_w - 8, _mm256_loadu_ps(src + q.in_w - 8));
      continue;
    }
    // Stride 2: columns c0 .. c0 + 15 split into even and odd ones; padded column
    // c + pad_left goes to phase (c + pad_left) % 2 at index (c + pad_left) / 2. A row
    // shorter than 16 is one such split, zero past its end.
    for (int64_t c = 0; c < q.in_w; c += 16) {
      const int64_t c0 = std::max<int64_t>(0, std::min(c, q.in_w - 16));  // the last 16 overlap the ones before
      const __m256 lo = _mm256_loadu_ps(src + c0);
      const __m256 hi = q.in_w >= 16 ? _mm256_loadu_ps(src + c0 + 8) : load_padded(src, q.in_w, 8, false);
      __m256 even, odd;
      split_even_odd(lo, hi, even, odd);
      const int64_t first = c0 + q.pad_left;
      _mm256_storeu_ps(dst + first % 2 * layout.row_length + first / 2, even);
      _mm256_storeu_ps(dst + (first + 1) % 2 * layout.row_length + (first + 1) / 2, odd);
    }
  }
}

// buffer[row][phase][j] = x[row - pad_top][j * stride + phase - pad_left], zero outside x,
// at lead + j. Outside zeros_kept layouts stride 1 rows are copied in place; larger
// strides copy the padded row into `scratch` (stride * row_length floats) first and split
// its phases from there with plain loads.
void fill_phased(const PlaneProblem& q, const PhasedPlane& layout, const float* x, float* buffer, float* scratch) {
  if (layout.zeros_kept) return fill_data_only(q, layout, x, buffer);
  const int64_t row_floats = layout.stride * layout.row_length;
  for (int64_t row = 0; row < layout.rows; ++row) {
    const int64_t ih = row - q.pad_top;
    float* dst = buffer + row * row_floats;
    if (ih < 0 || ih >= q.in_h) {
      for (int64_t j = 0; j < row_floats; j += 8) _mm256_storeu_ps(dst + j, _mm256_setzero_ps());
      continue;
    }
    const float* row_start = x + ih * q.in_w;
    const bool may_overread = ih * q.in_w + 8 <= q.in_h * q.in_w;  // 8 floats left in the plane
    if (layout.stride == 1) {
      copy_row_padded(row_start, q.in_w, q.pad_left, dst, layout.row_length, may_overread);
      continue;
    }
    copy_row_padded(row_start, q.in_w, q.pad_left, scratch, row_floats, may_overread);
    if (layout.stride == 2) {
      for (int64_t j = 0; j < layout.row_length; j += 8) {
        __m256 even, odd;
        split_even_odd(_mm256_loadu_ps(scratch + 2 * j), _mm256_loadu_ps(scratch + 2 * j + 8), even, odd);
        _mm256_storeu_ps(dst + j, even);
        _mm256_storeu_ps(dst + layout.row_length + j, odd);
      }
      continue;
    }
    for (int64_t phase = 0; phase < layout.stride; ++phase) {  // stride 3 and up: rare
      for (int64_t j = 0; j < layout.row_length; ++j) dst[phase * layout.row_length + j] = scratch[j * layout.stride + phase];
    }
  }
}

// What every plane of one problem shares, computed once per call: the buffer layout and
// the offset in it of each filter tap from output (0, 0). Per plane, their divisions had
// cost about 6% of a 14x14 plane's time.
struct PlanePlan {
  PlaneProblem q;
  PhasedPlane layout;
  int64_t offsets[kMaxTaps];

  explicit PlanePlan(const PlaneProblem& problem) : q(problem), layout(problem.phased()) {
    for (int64_t r = 0; r < q.kernel_h; ++r) {
      for (int64_t s = 0; s < q.kernel_w; ++s) {
        const int64_t column = s * q.dilation_w;
        offsets[r * q.kernel_w + s] = (r * q.dilation_h * layout.stride + column % layout.stride) * layout.row_length +
                                      column / layout.stride + layout.lead;
      }
    }
  }
  int64_t buffer_floats() const { return layout.rows * layout.stride * layout.row_length; }
  // A slot: one phased plane, then one row of scratch for fill_phased.
  int64_t slot_floats() const { return buffer_floats() + layout.stride * layout.row_length; }

  // Two slots (pipelined fills one while the other is read) in this file's own
  // buffer (no other kernel writes it). With zeros_kept they are zeroed only when the
  // layout of the data last copied into them differs.
  float* workspace() const {
    struct FillTag;
    struct Written {  // where the rows' data went: everything else is zero
      const float* buffer;
      int64_t stride, row_length, rows, lead, pad_top, pad_left, in_h, in_w, spread_h, spread_w;
      bool operator==(const Written& o) const {
        return buffer == o.buffer && stride == o.stride && row_length == o.row_length && rows == o.rows && lead == o.lead &&
               pad_top == o.pad_top && pad_left == o.pad_left && in_h == o.in_h && in_w == o.in_w &&
               spread_h == o.spread_h && spread_w == o.spread_w;
      }
    };
    thread_local Written zeroed_for;
    float* buffer = detail::thread_buffer<FillTag>(static_cast<size_t>(2 * slot_floats()));
    if (!layout.zeros_kept) {
      zeroed_for = Written{};  // this plan writes every float of the buffer
      return buffer;
    }
    const Written wanted{buffer,   layout.stride, layout.row_length, layout.rows, layout.lead, q.pad_top,
                         q.pad_left, q.in_h,      q.in_w,            q.spread_h,  q.spread_w};
    if (!(zeroed_for == wanted)) {
      std::fill(buffer, buffer + 2 * slot_floats(), 0.0f);
      zeroed_for = wanted;
    }
    return buffer;
  }
};

// Stores ROWS finished rows of 8 columns at (oh, ow), applying ReLU if asked.
template <int ROWS>
inline void store_rows(const PlaneProblem& q, const __m256* acc, bool relu, int64_t oh, int64_t ow, float* y) {
  const __m256 zero = _mm256_setzero_ps();
  for (int i = 0; i < ROWS; ++i) {
    const __m256 value = relu ? _mm256_max_ps(zero, acc[i]) : acc[i];  // NaN passes, as torch.relu
    float* dst = y + (oh + i) * q.out_w + ow;
    // A short row (out_w < 8) may spill into the rows after it, which are stored later
    // (rows go in order): only the plane's last 8 floats need the slow masked store.
    if (q.out_w >= 8 || (oh + i) * q.out_w + 8 <= q.out_h * q.out_w) {
      _mm256_storeu_ps(dst, value);
    } else {
      _mm256_maskstore_ps(dst, range_mask(0, q.out_w), value);
    }
  }
}

// Masked stores are slow on AMD cores: a row of 8 or more ends with a chunk that overlaps
// the one before (the overlap gets the same values twice).
inline int64_t chunk_start(const PlaneProblem& q, int64_t chunk) { return q.out_w >= 8 ? std::min(chunk, q.out_w - 8) : chunk; }

// ROWS output rows starting at oh, all columns, from the phased buffer: any filter.
template <int ROWS>
void forward_rows(const PlaneProblem& q, const PhasedPlane& layout, const float* buffer, const __m256* taps,
                  const int64_t* offsets, float bias, bool relu, int64_t oh, float* y) {
  const int64_t tap_count = q.kernel_h * q.kernel_w;
  const int64_t row_step = q.stride_h * layout.stride * layout.row_length;  // one output row down
  const float* rows[ROWS];
  for (int i = 0; i < ROWS; ++i) rows[i] = buffer + (oh + i) * row_step;
  for (int64_t chunk = 0; chunk < q.out_w; chunk += 8) {
    const int64_t ow = chunk_start(q, chunk);
    __m256 acc[ROWS];
    for (int i = 0; i < ROWS; ++i) acc[i] = _mm256_set1_ps(bias);
    for (int64_t t = 0; t < tap_count; ++t) {
      const __m256 weight = taps[t];
      const int64_t offset = offsets[t] + ow;
      for (int i = 0; i < ROWS; ++i) acc[i] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(rows[i] + offset), acc[i]);
    }
    store_rows<ROWS>(q, acc, relu, oh, ow, y);
  }
}

// The same for a 3x3 filter with row stride SH and no row dilation, walking input rows
// instead of output rows: each input vector is loaded once and feeds every output row
// it touches, with the 9 weights held in registers. forward_rows loads an input vector
// per output row and tap, 8 loads for each 8 FMAs, and load ports bound it.
template <int ROWS, int SH>
void forward_rows_3x3(const PlaneProblem& q, const PhasedPlane& layout, const float* buffer, const __m256* taps,
                      const int64_t* offsets, float bias, bool relu, int64_t oh, float* y) {
  const int64_t in_row = layout.stride * layout.row_length;  // one padded input row down
  const float* first_row = buffer + oh * SH * in_row;
  __m256 weight[9];
  for (int t = 0; t < 9; ++t) weight[t] = taps[t];
  for (int64_t chunk = 0; chunk < q.out_w; chunk += 8) {
    const int64_t ow = chunk_start(q, chunk);
    __m256 acc[ROWS];
    for (int i = 0; i < ROWS; ++i) acc[i] = _mm256_set1_ps(bias);
#pragma GCC unroll 64
    for (int i = 0; i < (ROWS - 1) * SH + 3; ++i) {
      const float* in = first_row + i * in_row + ow;
#pragma GCC unroll 3
      for (int s = 0; s < 3; ++s) {
        const __m256 v = _mm256_loadu_ps(in + offsets[s]);
#pragma GCC unroll 3
        for (int r = 0; r < 3; ++r) {
          const int o = (i - r) / SH;  // the output row that reads input row i through tap row r
          if (i >= r && (i - r) % SH == 0 && o < ROWS) acc[o] = _mm256_fmadd_ps(weight[r * 3 + s], v, acc[o]);
        }
      }
    }
    store_rows<ROWS>(q, acc, relu, oh, ow, y);
  }
}

// Planes narrower than 8 under a 3x3 filter with stride 1 and padding 1 (MobileNet's 7x7
// blocks): the rows of 8 lanes would leave lanes idle and copy 9 padded rows per plane.
// Instead the plane is one flat vector of pixels, 8 outputs at a time: output p reads
// pixel p + (r - 1) * W + (s - 1). Zeros before and after the pixels give the top and
// bottom padding; a neighbour across a row end is the left or right padding, so the taps
// of column 0 read a copy with the last column zeroed, those of column 2 one with the
// first column zeroed.
constexpr int64_t kFlatMaxPixels = 256;

struct FlatPlan {
  int64_t width, pixels, vectors, copy_floats;  // each copy: 8 zeros, the pixels, zeros to the end
  alignas(32) int32_t keep[3][kFlatMaxPixels / 8][8];  // per tap column: lanes the copy keeps

  static bool fits(const PlaneProblem& q) {
    return q.spread_h == 1 && q.spread_w == 1 && q.kernel_h == 3 && q.kernel_w == 3 && q.stride_h == 1 &&
           q.stride_w == 1 && q.dilation_h == 1 && q.dilation_w == 1 && q.pad_top == 1 && q.pad_left == 1 &&
           q.out_h == q.in_h && q.out_w == q.in_w && q.in_w < 8 && q.in_h * q.in_w >= 8 &&
           q.in_h * q.in_w <= kFlatMaxPixels;
  }
  explicit FlatPlan(const PlaneProblem& q)
      : width(q.in_w), pixels(q.in_h * q.in_w), vectors((pixels + 7) / 8), copy_floats(8 * vectors + 24) {
    for (int s = 0; s < 3; ++s) {
      for (int64_t p = 0; p < 8 * vectors; ++p) {
        const int64_t column = p % width;
        const bool wrapped = (s == 0 && column == width - 1) || (s == 2 && column == 0);
        keep[s][p / 8][p % 8] = p < pixels && !wrapped ? -1 : 0;
      }
    }
  }
};

// COUNT vectors of outputs from vector k on, from the three copies.
template <int COUNT>
inline void flat_block(const FlatPlan& plan, const float* copies, const __m256* weight, float bias, bool relu,
                       int64_t k, float* y) {
  __m256 acc[COUNT];
  for (int i = 0; i < COUNT; ++i) acc[i] = _mm256_set1_ps(bias);
  for (int r = 0; r < 3; ++r) {
    for (int s = 0; s < 3; ++s) {
      const float* src = copies + s * plan.copy_floats + 8 + 8 * k + (r - 1) * plan.width + (s - 1);
      for (int i = 0; i < COUNT; ++i) acc[i] = _mm256_fmadd_ps(weight[r * 3 + s], _mm256_loadu_ps(src + 8 * i), acc[i]);
    }
  }
  for (int i = 0; i < COUNT; ++i) {
    const __m256 value = relu ? _mm256_max_ps(_mm256_setzero_ps(), acc[i]) : acc[i];
    const int64_t first = 8 * (k + i);
    if (first + 8 <= plan.pixels) {
      _mm256_storeu_ps(y + first, value);
    } else {
      _mm256_maskstore_ps(y + first, range_mask(0, plan.pixels - first), value);  // once per plane
    }
  }
}

// Plane x's three copies, into a slot whose zeros around them are already there.
void fill_flat_copies(const FlatPlan& plan, const float* x, float* copies) {
  for (int64_t k = 0; k < plan.vectors; ++k) {
    const __m256 pixels = load_padded(x, plan.pixels, 8 * k, false);
    for (int s = 0; s < 3; ++s) {
      const __m256 keep = _mm256_load_ps(reinterpret_cast<const float*>(plan.keep[s][k]));
      _mm256_storeu_ps(copies + s * plan.copy_floats + 8 + 8 * k, _mm256_and_ps(pixels, keep));
    }
  }
}

// One plane's outputs from its copies.
void forward_flat_copies(const FlatPlan& plan, const float* copies, const float* w, float bias, bool relu, float* y) {
  __m256 weight[9];
  for (int t = 0; t < 9; ++t) weight[t] = _mm256_set1_ps(w[t]);
  // Up to 7 vectors at a time (a 7x7 plane is 7): 7 sums and the 9 weights fill the
  // registers, and each sum's chain of 9 FMAs overlaps the others'.
  int64_t k = 0;
  for (; k + 7 <= plan.vectors; k += 7) flat_block<7>(plan, copies, weight, bias, relu, k, y);
  switch (plan.vectors - k) {
    case 6: return flat_block<6>(plan, copies, weight, bias, relu, k, y);
    case 5: return flat_block<5>(plan, copies, weight, bias, relu, k, y);
    case 4: return flat_block<4>(plan, copies, weight, bias, relu, k, y);
    case 3: return flat_block<3>(plan, copies, weight, bias, relu, k, y);
    case 2: return flat_block<2>(plan, copies, weight, bias, relu, k, y);
    case 1: return flat_block<1>(plan, copies, weight, bias, relu, k, y);
    default: return;
  }
}

// Plane x into a slot of plan.workspace().
void fill_phased_slot(const PlanePlan& plan, const float* x, float* slot) {
  fill_phased(plan.q, plan.layout, x, slot, slot + plan.buffer_floats());
}

// A plane spread out (PlaneProblem::spread_h, spread_w of 1 or 2) into a slot of a
// zeros_kept, stride-1 layout: the rows of x go to every spread_h-th row, their pixels to
// every spread_w-th column with zeros written between; the rows between stay zero.
void fill_spread_slot(const PlanePlan& plan, const float* x, float* slot) {
  const PlaneProblem& q = plan.q;
  const PhasedPlane& layout = plan.layout;
  const int64_t rows = (q.in_h - 1) / q.spread_h + 1, width = (q.in_w - 1) / q.spread_w + 1;
  const __m128 zero = _mm_setzero_ps();
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t row = i * q.spread_h + q.pad_top;
    if (row < 0) continue;
    if (row >= layout.rows) break;
    const float* src = x + i * width;
    // The last vector may write up to 7 zeros past the row's pixels: into its padding, the
    // next row's head (zero, or written after) or the slot's scratch row.
    float* dst = slot + row * layout.row_length + layout.lead + q.pad_left;
    if (q.spread_w == 1) {
      for (int64_t j = 0; j < width; j += 8) _mm256_storeu_ps(dst + j, load_padded(src, width, j, false));
      continue;
    }
    for (int64_t j = 0; j < width; j += 4) {
      const __m128 v = _mm256_castps256_ps128(load_padded(src, width, j, false));
      _mm256_storeu_ps(dst + 2 * j, _mm256_set_m128(_mm_unpackhi_ps(v, zero), _mm_unpacklo_ps(v, zero)));
    }
  }
}

// One plane: y (out_h x out_w) = bias + the filter `w` (R x S, row-major) over the plane
// filled into `buffer`.
void forward_phased(const PlanePlan& plan, const float* buffer, const float* w, float bias, bool relu, float* y) {
  const PlaneProblem& q = plan.q;
  const PhasedPlane& layout = plan.layout;
  const int64_t* offsets = plan.offsets;
  __m256 taps[kMaxTaps];
  for (int64_t t = 0; t < q.kernel_h * q.kernel_w; ++t) taps[t] = _mm256_set1_ps(w[t]);
  // 8 rows fill the FMA pipes (two units of latency 4); the last rows go 4, 2, 1 at a
  // time rather than one by one, where each 8 columns would wait on a single FMA chain.
  // 3x3 filters take 7 rows at a time (MobileNet's planes are 7 times a power of two);
  // 7 sums and 9 weights nearly fill the 16 registers.
  int64_t oh = 0;
  if (q.kernel_h == 3 && q.kernel_w == 3 && q.dilation_h == 1 && q.stride_h <= 2) {
    for (; oh + 7 <= q.out_h; oh += 7) {
      if (q.stride_h == 1) {
        forward_rows_3x3<7, 1>(q, layout, buffer, taps, offsets, bias, relu, oh, y);
      } else {
        forward_rows_3x3<7, 2>(q, layout, buffer, taps, offsets, bias, relu, oh, y);
      }
    }
  }
  for (; oh + 8 <= q.out_h; oh += 8) forward_rows<8>(q, layout, buffer, taps, offsets, bias, relu, oh, y);
  if (oh + 4 <= q.out_h) forward_rows<4>(q, layout, buffer, taps, offsets, bias, relu, oh, y), oh += 4;
  if (oh + 2 <= q.out_h) forward_rows<2>(q, layout, buffer, taps, offsets, bias, relu, oh, y), oh += 2;
  if (oh < q.out_h) forward_rows<1>(q, layout, buffer, taps, offsets, bias, relu, oh, y);
}

PlaneProblem forward_problem(const Conv2dParams& p) {
  return {p.in_h, p.in_w, p.out_h(), p.out_w(), p.kernel_h, p.kernel_w, p.stride_h, p.stride_w,
          p.dilation_h, p.dilation_w, p.pad_top, p.pad_left};
}

// The gradient with respect to x of a depthwise convolution is itself one, of stride 1:
// the flipped filter slid over grad_y spread out by the stride (zeros between), padded
// by the filter's reach minus the forward padding.
PlaneProblem backward_data_problem(const Conv2dParams& p) {
  PlaneProblem q{(p.out_h() - 1) * p.stride_h + 1,
                 (p.out_w() - 1) * p.stride_w + 1,
                 p.in_h,
                 p.in_w,
                 p.kernel_h,
                 p.kernel_w,
                 1,
                 1,
                 p.dilation_h,
                 p.dilation_w,
                 (p.kernel_h - 1) * p.dilation_h - p.pad_top,
                 (p.kernel_w - 1) * p.dilation_w - p.pad_left};
  q.spread_h = p.stride_h, q.spread_w = p.stride_w;
  return q;
}

// taps[r * S + s] += sum over the plane filled into `buffer` of grad_y * (input under tap
// (r, s)), in double.
void backward_weight_phased(const PlanePlan& plan, const float* buffer, const float* grad_y, double* sums) {
  const PlaneProblem& q = plan.q;
  const PhasedPlane& layout = plan.layout;
  const int64_t* offsets = plan.offsets;
  const int64_t taps = q.kernel_h * q.kernel_w;
  const int64_t row_step = q.stride_h * layout.stride * layout.row_length;
  __m256 acc[kMaxTaps];
  for (int64_t t = 0; t < taps; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t oh = 0; oh < q.out_h; ++oh) {
    const float* row = buffer + oh * row_step;
    for (int64_t chunk = 0; chunk < q.out_w; chunk += 8) {
      // As in forward_rows, the last chunk overlaps the one before; its lanes already
      // counted are zeroed in grad_y (a plain load and a mask, not a slow masked load).
      const int64_t ow = q.out_w >= 8 ? std::min(chunk, q.out_w - 8) : chunk;
      const float* gy = grad_y + oh * q.out_w + ow;
      __m256 g;
      if (q.out_w < 8) {  // a plain load and a mask where 8 floats remain in the plane
        g = oh * q.out_w + 8 <= q.out_h * q.out_w ? _mm256_and_ps(_mm256_loadu_ps(gy), _mm256_castsi256_ps(range_mask(0, q.out_w)))
                                                  : _mm256_maskload_ps(gy, range_mask(0, q.out_w));
      } else {
        const __m256i fresh = _mm256_cmpgt_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                                 _mm256_set1_epi32(static_cast<int>(chunk - ow - 1)));
        g = _mm256_and_ps(_mm256_loadu_ps(gy), _mm256_castsi256_ps(fresh));
      }
      for (int64_t t = 0; t < taps; ++t) {
        acc[t] = _mm256_fmadd_ps(g, _mm256_loadu_ps(row + offsets[t] + ow), acc[t]);
      }
    }
  }
  for (int64_t t = 0; t < taps; ++t) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, acc[t]);
    double total = 0.0;
    for (float lane : lanes) total += lane;
    sums[t] += total;
  }
}

bool fast_path_fits(const Conv2dParams& p) { return p.kernel_h * p.kernel_w <= kMaxTaps; }

}  // namespace

namespace {

// Items [begin, end) of one thread, each reading one input plane: item i's plane
// input_of(i) is filled into a slot by fill(plane, slot), then use(slot, i) reads it.
// Each plane is filled while the item before is used, into the other of two slots
// (slot_floats apart): read right after they were written, a slot's unaligned loads
// straddle the fill's stores and wait for them to reach L1. One plane ahead, a thread's
// 7x7 planes took 11% less time (the flat kernel alone: 28%), 14x14 planes under stride
// 2 10% less.
template <class InputOf, class Fill, class Use>
void pipelined(float* slots, int64_t slot_floats, int64_t begin, int64_t end, const InputOf& input_of,
               const Fill& fill, const Use& use) {
  if (begin >= end) return;
  auto slot = [&](int64_t i) { return slots + (i - begin) % 2 * slot_floats; };
  fill(input_of(begin), slot(begin));
  for (int64_t i = begin; i < end; ++i) {
    if (i + 1 < end) fill(input_of(i + 1), slot(i + 1));
    use(slot(i), i);
  }
}

// The planes of one problem on all kernel threads, pipelined: plane i, filled into a
// slot, is turned into y_i by compute(slot, taps, bias, relu, y_i), where
// taps = filter(i, scratch, bias) (the filter's taps, or `scratch` holding them).
template <class Slots, class Fill, class Compute, class Filter>
void pipelined_planes(const Conv2dParams& p, const PlaneProblem& q, const Slots& slots, int64_t slot_floats,
                      const float* x, float* y, bool relu, const Fill& fill, const Compute& compute,
                      const Filter& filter) {
  const int64_t in_plane = ((q.in_h - 1) / q.spread_h + 1) * ((q.in_w - 1) / q.spread_w + 1);  // before spreading
  const int64_t out_plane = q.out_h * q.out_w;
  for_each_plane_range(p.batch * p.in_channels, out_plane * q.kernel_h * q.kernel_w, [&](int64_t begin, int64_t end) {
    auto input_of = [&](int64_t plane) { return x + plane * in_plane; };
    pipelined(slots(), slot_floats, begin, end, input_of, fill, [&](const float* slot, int64_t plane) {
      float scratch[kMaxTaps], bias;
      const float* taps = filter(plane, scratch, bias);
      compute(slot, taps, bias, relu, y + plane * out_plane);
    });
  });
}

// Two flat slots of three copies each, zero around the pixels.
float* flat_slots(const FlatPlan& plan) {
  struct FlatTag;
  float* slots = detail::thread_buffer<FlatTag>(static_cast<size_t>(6 * plan.copy_floats));
  const __m256 zero = _mm256_setzero_ps();
  for (int copy = 0; copy < 6; ++copy) {
    float* c = slots + copy * plan.copy_floats;
    _mm256_storeu_ps(c, zero);
    for (int64_t j = 8 + 8 * plan.vectors; j < plan.copy_floats; j += 8) _mm256_storeu_ps(c + j, zero);
  }
  return slots;
}

// Every plane of `problem` under filter(plane, scratch, bias)'s taps, by the flat or the
// phased path (which alone takes spread planes, into a zeros_kept layout).
template <class Filter>
void all_planes(const Conv2dParams& p, const PlaneProblem& problem, const float* x, float* y, bool relu,
                const Filter& filter) {
  if (FlatPlan::fits(problem)) {
    const FlatPlan plan(problem);
    auto fill = [&](const float* plane, float* slot) { fill_flat_copies(plan, plane, slot); };
    auto compute = [&](const float* slot, const float* taps, float bias, bool r, float* out) {
      forward_flat_copies(plan, slot, taps, bias, r, out);
    };
    auto slots = [&] { return flat_slots(plan); };
    return pipelined_planes(p, problem, slots, 3 * plan.copy_floats, x, y, relu, fill, compute, filter);
  }
  const PlanePlan plan(problem);
  const bool spread = problem.spread_h > 1 || problem.spread_w > 1;
  auto fill = [&](const float* plane, float* slot) {
    spread ? fill_spread_slot(plan, plane, slot) : fill_phased_slot(plan, plane, slot);
  };
  auto compute = [&](const float* slot, const float* taps, float bias, bool r, float* out) {
    forward_phased(plan, slot, taps, bias, r, out);
  };
  auto slots = [&] { return plan.workspace(); };
  pipelined_planes(p, problem, slots, plan.slot_floats(), x, y, relu, fill, compute, filter);
}

}  // namespace

void depthwise_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, bool relu,
                       float* y) {
  if (!fast_path_fits(p)) return generic_forward(p, x, w, bias, relu, y);
  const int64_t taps = p.kernel_h * p.kernel_w;
  all_planes(p, forward_problem(p), x, y, relu, [&](int64_t plane, float*, float& b) {
    const int64_t c = plane % p.in_channels;
    b = bias ? bias[c] : 0.0f;
    return w + c * taps;  // read in place: a copy just stored would be read back at once
  });
}

void depthwise_backward_data(const Conv2dParams& p, const float* grad_y, const float* w, float* grad_x) {
  if (!fast_path_fits(p)) return generic_backward_data(p, grad_y, w, grad_x);
  const int64_t taps = p.kernel_h * p.kernel_w;
  auto flipped_filter = [&](int64_t plane, float* flipped, float& b) {
    const int64_t c = plane % p.in_channels;
    for (int64_t t = 0; t < taps; ++t) flipped[t] = w[c * taps + taps - 1 - t];
    b = 0.0f;
    return static_cast<const float*>(flipped);
  };
  const PlaneProblem problem = backward_data_problem(p);
  // Strided, grad_y is spread out with zeros between (fill_spread_slot, stride 2 and a
  // zeros_kept layout only). Three quarters of a stride-2 layer's multiply-adds then meet
  // zeros, and it still took a fifth of the generic loops' time (16x576x14x14: 2.8 -> 0.6 ms).
  const bool strided = p.stride_h > 1 || p.stride_w > 1;
  if (strided && (p.stride_h > 2 || p.stride_w > 2 || !problem.phased().zeros_kept)) {
    return generic_backward_data(p, grad_y, w, grad_x);
  }
  all_planes(p, problem, grad_y, grad_x, false, flipped_filter);
}

void depthwise_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y, float* grad_w) {
  if (!fast_path_fits(p)) return generic_backward_weight(p, x, grad_y, grad_w);
  const PlanePlan plan(forward_problem(p));
  const int64_t in_plane = p.in_h * p.in_w, out_plane = plan.q.out_h * plan.q.out_w, taps = p.kernel_h * p.kernel_w;
  // Threads own channels (summing over the batch inside), so no two write one filter:
  // item i of a thread's channels [c0, c1) is image i % batch of channel c0 + i / batch.
  for_each_plane_range(p.in_channels, p.batch * out_plane * taps, [&](int64_t c0, int64_t c1) {
    auto plane_of = [&](int64_t i) { return i % p.batch * p.in_channels + c0 + i / p.batch; };
    auto input_of = [&](int64_t i) { return x + plane_of(i) * in_plane; };
    auto fill = [&](const float* plane, float* slot) { fill_phased_slot(plan, plane, slot); };
    double sums[kMaxTaps] = {};
    pipelined(plan.workspace(), plan.slot_floats(), 0, (c1 - c0) * p.batch, input_of, fill,
              [&](const float* slot, int64_t i) {
                backward_weight_phased(plan, slot, grad_y + plane_of(i) * out_plane, sums);
                if (i % p.batch != p.batch - 1) return;
                const int64_t c = c0 + i / p.batch;  // its last image: the channel's sums are done
                for (int64_t t = 0; t < taps; ++t) grad_w[c * taps + t] = static_cast<float>(sums[t]), sums[t] = 0.0;
              });
  });
}

}  // namespace fastcnn::cpu::depthwise_avx2
