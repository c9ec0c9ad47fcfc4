// Depthwise convolution with AVX2 + FMA (this file gets -mavx2 -mfma).
//
// The generic loops of conv_depthwise_impl.h (compiled here for AVX2 too) handle every
// shape. The fast paths below first copy each input plane into a zero-padded, phase-split
// buffer: phase q of padded row i holds padded columns q, q + stride, q + 2*stride, ...
// so the input under tap s for output columns ow..ow+7 is one unaligned 8-float load,
// for any stride and dilation, with no bounds checks. Output rows are computed 4 at a
// time in registers (4 independent FMA chains per tap, one load each).
//   forward          y[oh, ow]  = bias + sum_{r,s} w[r, s] * xpad[oh*sh + r*dh, ow*sw + s*dw]
//   backward data    stride 1 only: a forward pass of grad_y with the filter flipped
//   backward weight  grad_w[r, s] = sum_{oh,ow} grad_y[oh, ow] * xpad[...], 8 lanes per tap
#include <immintrin.h>

#include <vector>

#define FASTCNN_DEPTHWISE_NS depthwise_avx2
#include "cpu/conv_depthwise_impl.h"
#include "cpu/conv_util.h"

namespace fastcnn::cpu::depthwise_avx2 {

namespace {

constexpr int64_t kMaxTaps = 64;  // broadcast filter taps kept on the stack
constexpr int kRows = 4;          // output rows per register block

// Where one plane's padded, phase-split copy lives and how it is indexed.
struct PhasedPlane {
  int64_t stride, row_length, rows;  // row (i, phase q) starts at (i * stride + q) * row_length
};

// The plane geometry of a (possibly flipped) depthwise problem: what the fast paths see.
struct PlaneProblem {
  int64_t in_h, in_w, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
  int64_t pad_top, pad_left;  // may be negative: a crop (backward data with big padding)

  PhasedPlane phased() const {
    const int64_t out_w8 = (out_w + 7) / 8 * 8;
    const int64_t reach = (kernel_w - 1) * dilation_w / stride_w;
    return {stride_w, (out_w8 + reach + 7) / 8 * 8, (out_h - 1) * stride_h + (kernel_h - 1) * dilation_h + 1};
  }
};

// buffer[row][phase][j] = x[row - pad_top][j * stride + phase - pad_left], zero outside x.
// Rows are short (7 to 224 floats), so a call to memcpy/memset per row would cost more
// than the copy: each 8 floats are one masked load (or gather, for stride > 1) instead,
// whose masked-off lanes read nothing.
void fill_phased(const PlaneProblem& q, const PhasedPlane& layout, const float* x, float* buffer) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i lane_columns = _mm256_mullo_epi32(lanes, _mm256_set1_epi32(static_cast<int>(layout.stride)));
  const __m256i width = _mm256_set1_epi32(static_cast<int>(q.in_w));
  const __m256i minus_one = _mm256_set1_epi32(-1);
  for (int64_t row = 0; row < layout.rows; ++row) {
    const int64_t ih = row - q.pad_top;
    const bool inside = ih >= 0 && ih < q.in_h;
    const float* row_start = x + ih * q.in_w;
    float* dst = buffer + row * layout.stride * layout.row_length;
    if (inside && layout.stride == 2) {  // both phases from two loads, deinterleaved
      for (int64_t j = 0; j < layout.row_length; j += 8) {
        const int64_t first = 2 * j - q.pad_left;
        __m256i columns = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(first)), lanes);
        const __m256i valid_lo =
            _mm256_and_si256(_mm256_cmpgt_epi32(columns, minus_one), _mm256_cmpgt_epi32(width, columns));
        columns = _mm256_add_epi32(columns, _mm256_set1_epi32(8));
        const __m256i valid_hi =
            _mm256_and_si256(_mm256_cmpgt_epi32(columns, minus_one), _mm256_cmpgt_epi32(width, columns));
        // Masked loads are slow on AMD cores: only the row's ends take them.
        const bool inside_lo = first >= 0 && first + 8 <= q.in_w, inside_hi = first + 8 >= 0 && first + 16 <= q.in_w;
        const __m256 lo = inside_lo ? _mm256_loadu_ps(row_start + first) : _mm256_maskload_ps(row_start + first, valid_lo);
        const __m256 hi =
            inside_hi ? _mm256_loadu_ps(row_start + first + 8) : _mm256_maskload_ps(row_start + first + 8, valid_hi);
        // shuffle: [l0 l2 h0 h2 | l4 l6 h4 h6]; the 64-bit permute restores column order.
        const __m256 even = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
        const __m256 odd = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
        _mm256_storeu_ps(dst + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), 0xD8)));
        _mm256_storeu_ps(dst + layout.row_length + j,
                         _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(odd), 0xD8)));
      }
      continue;
    }
    for (int64_t phase = 0; phase < layout.stride; ++phase, dst += layout.row_length) {
      for (int64_t j = 0; j < layout.row_length; j += 8) {
        __m256 value = _mm256_setzero_ps();
        const int64_t first = phase - q.pad_left + j * layout.stride;
        if (inside && layout.stride == 1 && first >= 0 && first + 8 <= q.in_w) {
          value = _mm256_loadu_ps(row_start + first);  // the common case: all 8 inside the row
        } else if (inside) {
          // Input columns of lanes j..j+7; valid where 0 <= column < in_w.
          const __m256i columns = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(first)), lane_columns);
          const __m256i valid = _mm256_and_si256(_mm256_cmpgt_epi32(columns, minus_one),
                                                 _mm256_cmpgt_epi32(width, columns));
          value = layout.stride == 1
                      ? _mm256_maskload_ps(row_start + first, valid)
                      : _mm256_mask_i32gather_ps(value, row_start, columns, _mm256_castsi256_ps(valid), 4);
        }
        _mm256_storeu_ps(dst + j, value);
      }
    }
  }
}

inline __m256i tail_mask(int64_t valid) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid)), lanes);
}

// Offsets in the phased buffer of each filter tap, from output (0, 0): computed once per
// problem so the inner loops do no division.
void tap_offsets(const PlaneProblem& q, const PhasedPlane& layout, int64_t* offsets) {
  for (int64_t r = 0; r < q.kernel_h; ++r) {
    for (int64_t s = 0; s < q.kernel_w; ++s) {
      const int64_t column = s * q.dilation_w;
      offsets[r * q.kernel_w + s] =
          (r * q.dilation_h * layout.stride + column % layout.stride) * layout.row_length + column / layout.stride;
    }
  }
}

// ROWS output rows starting at oh, all columns, from the phased buffer.
template <int ROWS>
void forward_rows(const PlaneProblem& q, const PhasedPlane& layout, const float* buffer, const __m256* taps,
                  const int64_t* offsets, float bias, bool relu, int64_t oh, float* y) {
  const __m256 zero = _mm256_setzero_ps();
  const int64_t tap_count = q.kernel_h * q.kernel_w;
  const int64_t row_step = q.stride_h * layout.stride * layout.row_length;  // one output row down
  const float* rows[ROWS];
  for (int i = 0; i < ROWS; ++i) rows[i] = buffer + (oh + i) * row_step;
  for (int64_t chunk = 0; chunk < q.out_w; chunk += 8) {
    // Masked stores are slow on AMD cores: a row of 8 or more ends with a chunk that
    // overlaps the one before (the overlap gets the same values twice).
    const int64_t ow = q.out_w >= 8 ? std::min(chunk, q.out_w - 8) : chunk;
    __m256 acc[ROWS];
    for (int i = 0; i < ROWS; ++i) acc[i] = _mm256_set1_ps(bias);
    for (int64_t t = 0; t < tap_count; ++t) {
      const __m256 weight = taps[t];
      const int64_t offset = offsets[t] + ow;
      for (int i = 0; i < ROWS; ++i) acc[i] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(rows[i] + offset), acc[i]);
    }
    for (int i = 0; i < ROWS; ++i) {
      __m256 value = relu ? _mm256_max_ps(zero, acc[i]) : acc[i];  // NaN passes, as torch.relu
      float* dst = y + (oh + i) * q.out_w + ow;
      if (q.out_w >= 8) {
        _mm256_storeu_ps(dst, value);
      } else {
        _mm256_maskstore_ps(dst, tail_mask(q.out_w), value);
      }
    }
  }
}

// One plane: y (out_h x out_w) = bias + the filter `w` (R x S, row-major) over x.
void forward_plane_fast(const PlaneProblem& q, const float* x, const float* w, float bias, bool relu, float* y) {
  const PhasedPlane layout = q.phased();
  float* buffer = conv_util::thread_workspace(static_cast<size_t>(layout.rows * layout.stride * layout.row_length));
  fill_phased(q, layout, x, buffer);
  __m256 taps[kMaxTaps];
  int64_t offsets[kMaxTaps];
  for (int64_t t = 0; t < q.kernel_h * q.kernel_w; ++t) taps[t] = _mm256_set1_ps(w[t]);
  tap_offsets(q, layout, offsets);
  int64_t oh = 0;
  for (; oh + kRows <= q.out_h; oh += kRows) forward_rows<kRows>(q, layout, buffer, taps, offsets, bias, relu, oh, y);
  for (; oh < q.out_h; ++oh) forward_rows<1>(q, layout, buffer, taps, offsets, bias, relu, oh, y);
}

PlaneProblem forward_problem(const Conv2dParams& p) {
  return {p.in_h, p.in_w, p.out_h(), p.out_w(), p.kernel_h, p.kernel_w, p.stride_h, p.stride_w,
          p.dilation_h, p.dilation_w, p.pad_top, p.pad_left};
}

// The gradient with respect to x of a stride-1 depthwise convolution is itself one: the
// flipped filter slid over grad_y, padded by the filter's reach minus the forward padding.
PlaneProblem backward_data_problem(const Conv2dParams& p) {
  return {p.out_h(), p.out_w(), p.in_h, p.in_w, p.kernel_h, p.kernel_w, 1, 1, p.dilation_h, p.dilation_w,
          (p.kernel_h - 1) * p.dilation_h - p.pad_top, (p.kernel_w - 1) * p.dilation_w - p.pad_left};
}

// taps[r * S + s] += sum over the plane of grad_y * (input under tap (r, s)), in double.
void backward_weight_plane_fast(const PlaneProblem& q, const float* x, const float* grad_y, double* sums) {
  const PhasedPlane layout = q.phased();
  float* buffer = conv_util::thread_workspace(static_cast<size_t>(layout.rows * layout.stride * layout.row_length));
  fill_phased(q, layout, x, buffer);
  const int64_t taps = q.kernel_h * q.kernel_w;
  int64_t offsets[kMaxTaps];
  tap_offsets(q, layout, offsets);
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
      if (q.out_w < 8) {
        g = _mm256_maskload_ps(gy, tail_mask(q.out_w));
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

void depthwise_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, bool relu,
                       float* y) {
  if (!fast_path_fits(p)) return generic_forward(p, x, w, bias, relu, y);
  const PlaneProblem q = forward_problem(p);
  const int64_t in_plane = p.in_h * p.in_w, out_plane = q.out_h * q.out_w, taps = p.kernel_h * p.kernel_w;
  for_each_plane(p.batch * p.in_channels, out_plane * taps, [&](int64_t plane) {
    const int64_t c = plane % p.in_channels;
    forward_plane_fast(q, x + plane * in_plane, w + c * taps, bias ? bias[c] : 0.0f, relu, y + plane * out_plane);
  });
}

void depthwise_backward_data(const Conv2dParams& p, const float* grad_y, const float* w, float* grad_x) {
  if (!fast_path_fits(p) || p.stride_h != 1 || p.stride_w != 1) return generic_backward_data(p, grad_y, w, grad_x);
  const PlaneProblem q = backward_data_problem(p);
  const int64_t in_plane = p.in_h * p.in_w, out_plane = q.in_h * q.in_w, taps = p.kernel_h * p.kernel_w;
  for_each_plane(p.batch * p.in_channels, in_plane * taps, [&](int64_t plane) {
    const int64_t c = plane % p.in_channels;
    float flipped[kMaxTaps];
    for (int64_t t = 0; t < taps; ++t) flipped[t] = w[c * taps + taps - 1 - t];
    forward_plane_fast(q, grad_y + plane * out_plane, flipped, 0.0f, false, grad_x + plane * in_plane);
  });
}

void depthwise_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y, float* grad_w) {
  if (!fast_path_fits(p)) return generic_backward_weight(p, x, grad_y, grad_w);
  const PlaneProblem q = forward_problem(p);
  const int64_t in_plane = p.in_h * p.in_w, out_plane = q.out_h * q.out_w, taps = p.kernel_h * p.kernel_w;
  // Threads own channels (summing over the batch inside), so no two write one filter.
  for_each_plane(p.in_channels, p.batch * out_plane * taps, [&](int64_t c) {
    double sums[kMaxTaps] = {};
    for (int64_t n = 0; n < p.batch; ++n) {
      const int64_t plane = n * p.in_channels + c;
      backward_weight_plane_fast(q, x + plane * in_plane, grad_y + plane * out_plane, sums);
    }
    for (int64_t t = 0; t < taps; ++t) grad_w[c * taps + t] = static_cast<float>(sums[t]);
  });
}

}  // namespace fastcnn::cpu::depthwise_avx2
