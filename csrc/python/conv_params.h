// The convolution geometry the conv bindings share: shapes and settings from Python
// checked into a Conv2dParams, with errors that name the shapes. Internal header.
#pragma once

#include <pybind11/pybind11.h>

#include <array>
#include <string>
#include <vector>

#include "fastcnn/conv.h"
#include "python/array_checks.h"

namespace fastcnn::python {

using Pair = std::array<int64_t, 2>;
using Quad = std::array<int64_t, 4>;

// The convolution that x (N, C, H, W) and w (K, C/G, R, S) describe, checked.
inline Conv2dParams conv_params(const char* op, const std::vector<int64_t>& x, const std::vector<int64_t>& w,
                                Pair stride, Quad padding, Pair dilation, int64_t groups) {
  using pybind11::value_error;
  if (groups < 1) throw value_error(std::string(op) + ": groups must be >= 1, got " + std::to_string(groups));
  if (x.size() != 4 || w.size() != 4) throw value_error(std::string(op) + ": shapes must have 4 dimensions");
  if (x[1] % groups != 0 || x[1] / groups != w[1]) {  // not w[1] * groups: it could overflow
    throw value_error(std::string(op) + ": input of shape " + shape_string(x) + " has " + std::to_string(x[1]) +
                      " channels but weight of shape " + shape_string(w) + " expects " +
                      std::to_string(w[1] * groups) + " (groups=" + std::to_string(groups) + ")");
  }
  Conv2dParams p;
  p.batch = x[0], p.in_channels = x[1], p.in_h = x[2], p.in_w = x[3];
  p.out_channels = w[0], p.kernel_h = w[2], p.kernel_w = w[3];
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_top = padding[0], p.pad_bottom = padding[1], p.pad_left = padding[2], p.pad_right = padding[3];
  p.dilation_h = dilation[0], p.dilation_w = dilation[1];
  p.groups = groups;
  cpu::conv2d_check(p);
  return p;
}

}  // namespace fastcnn::python
