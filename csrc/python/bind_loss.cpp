// Bindings of the softmax and loss kernels. Every function writes into caller-allocated
// outputs (checked for shape, dtype, layout and overlap here) and returns them or, for
// the class losses' forward, the total weight (the mean's denominator) as a float.
// Class losses take input (N, C, d1, ...) and target (N, d1, ...); a reduced loss is a
// 0-d array, an unreduced one has the target's shape.
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "fastcnn/loss.h"
#include "python/array_checks.h"
#include "python/bindings.h"

namespace fastcnn::python {

namespace {

constexpr int kMaxDims = 64;

Reduction parse_reduction(const std::string& r, const std::string& op) {
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  throw py::value_error(op + ": reduction must be 'mean', 'sum' or 'none', got '" + r + "'");
}

void require_shape(const FloatArray& a, const std::vector<int64_t>& shape, const std::string& op,
                   const char* name, const std::string& why) {
  if (a.shape != shape) {
    throw py::value_error(op + ": " + name + " has shape " + shape_string(a.shape) + ", expected " +
                          shape_string(shape) + " (" + why + ")");
  }
}

void require_numel(const FloatArray& a, int64_t n, const std::string& op, const char* name) {
  if (a.numel() != n) {
    throw py::value_error(op + ": " + name + " of shape " + shape_string(a.shape) + " must have " +
                          std::to_string(n) + " element(s)");
  }
}

ClassDims softmax_dims(const std::vector<int64_t>& shape, int64_t dim, const std::string& op) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  if (dim < -nd || dim >= nd) {
    throw py::value_error(op + ": dim " + std::to_string(dim) + " is out of range for input of shape " +
                          shape_string(shape));
  }
  if (dim < 0) dim += nd;
  ClassDims d;
  d.outer = 1, d.classes = shape[static_cast<size_t>(dim)], d.inner = 1;
  for (int64_t k = 0; k < dim; ++k) d.outer *= shape[static_cast<size_t>(k)];
  for (int64_t k = dim + 1; k < nd; ++k) d.inner *= shape[static_cast<size_t>(k)];
  return d;
}

py::object softmax_fwd(bool log, const py::object& x_obj, const py::object& out_obj, int64_t dim) {
  const std::string op = log ? "log_softmax" : "softmax";
  const FloatArray x = float_array(x_obj, op.c_str(), "input", 1, kMaxDims);
  const FloatArray out = float_array(out_obj, op.c_str(), "out", 1, kMaxDims, true);
  require_shape(out, x.shape, op, "out", "the input's shape");
  check_no_overlap(out, x, op.c_str(), "out", "input");
  const ClassDims d = softmax_dims(x.shape, dim, op);
  {
    py::gil_scoped_release release;
    cpu::softmax_forward(x.data, out.data, d, log);
  }
  return out_obj;
}

py::object softmax_bwd(bool log, const py::object& g_obj, const py::object& y_obj, const py::object& gi_obj,
                       int64_t dim) {
  const std::string op = log ? "log_softmax_backward" : "softmax_backward";
  const FloatArray g = float_array(g_obj, op.c_str(), "grad_output", 1, kMaxDims);
  const FloatArray y = float_array(y_obj, op.c_str(), "output", 1, kMaxDims);
  const FloatArray gi = float_array(gi_obj, op.c_str(), "grad_input", 1, kMaxDims, true);
  require_shape(y, g.shape, op, "output", "grad_output's shape");
  require_shape(gi, g.shape, op, "grad_input", "grad_output's shape");
  check_no_overlap(gi, g, op.c_str(), "grad_input", "grad_output");
  check_no_overlap(gi, y, op.c_str(), "grad_input", "output");
  const ClassDims d = softmax_dims(g.shape, dim, op);
  {
    py::gil_scoped_release release;
    cpu::softmax_backward(g.data, y.data, gi.data, d, log);
  }
  return gi_obj;
}

// Input (N, C, d...), target (N, d...), optional weight (C,): fills ClassLossParams.
struct ClassLoss {
  ClassLossParams p;
  Int64Array target;
  FloatArray weight;
};

ClassLoss parse_class_loss(const std::string& op, const FloatArray& input, const py::object& target_obj,
                           const py::object& weight_obj, int64_t ignore_index, const std::string& reduction,
                           float label_smoothing) {
  ClassLoss c;
  if (input.ndim() < 2) {
    throw py::value_error(op + ": input must have 2 or more dimensions (N, C, ...), got shape " +
                          shape_string(input.shape));
  }
  c.target = int64_array(target_obj, op.c_str(), "target", 1, kMaxDims);
  std::vector<int64_t> expected{input.dim(0)};
  for (int k = 2; k < input.ndim(); ++k) expected.push_back(input.dim(k));
  if (c.target.shape != expected) {
    throw py::value_error(op + ": target has shape " + shape_string(c.target.shape) + " but input of shape " +
                          shape_string(input.shape) + " needs target of shape " + shape_string(expected));
  }
  c.p.dims.outer = input.dim(0);
  c.p.dims.classes = input.dim(1);
  c.p.dims.inner = 1;
  for (int k = 2; k < input.ndim(); ++k) c.p.dims.inner *= input.dim(k);
  c.p.target = c.target.data;
  if (!weight_obj.is_none()) {
    c.weight = float_array(weight_obj, op.c_str(), "weight", 1, 1);
    if (c.weight.dim(0) != c.p.dims.classes) {
      throw py::value_error(op + ": weight has shape " + shape_string(c.weight.shape) + " but input has " +
                            std::to_string(c.p.dims.classes) + " classes");
    }
    c.p.weight = c.weight.data;
  }
  c.p.ignore_index = ignore_index;
  c.p.reduction = parse_reduction(reduction, op);
  if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f)) {
    throw py::value_error(op + ": label_smoothing must be in [0.0, 1.0], got " + std::to_string(label_smoothing));
  }
  c.p.label_smoothing = label_smoothing;
  cpu::check_class_targets(c.p, op.c_str());  // before any kernel: a clear ValueError
  return c;
}

// The loss output: 0-d (one value) when reduced, else the target's shape.
void check_loss_out(const FloatArray& out, const ClassLoss& c, const std::string& op) {
  if (c.p.reduction == Reduction::None) require_shape(out, c.target.shape, op, "out", "reduction='none'");
  else require_numel(out, 1, op, "out");
}

void check_grad_output(const FloatArray& g, const std::vector<int64_t>& element_shape, Reduction r,
                       const std::string& op) {
  if (r == Reduction::None) require_shape(g, element_shape, op, "grad_output", "reduction='none'");
  else require_numel(g, 1, op, "grad_output");
}

template <class... Arrays>
void check_out_disjoint(const FloatArray& out, const std::string& op, const char* out_name, const ClassLoss& c,
                        const Arrays&... inputs) {
  check_no_overlap(out, c.target, op.c_str(), out_name, "target");
  if (c.p.weight) check_no_overlap(out, c.weight, op.c_str(), out_name, "weight");
  (check_no_overlap(out, inputs.first, op.c_str(), out_name, inputs.second), ...);
}

}  // namespace

void bind_loss(py::module_& m) {
  using py::arg;
  m.def("softmax_forward", [](const py::object& x, const py::object& out, int64_t dim) {
    return softmax_fwd(false, x, out, dim);
  }, "out = softmax(input) over dim.", arg("input"), arg("out"), arg("dim"));
  m.def("log_softmax_forward", [](const py::object& x, const py::object& out, int64_t dim) {
    return softmax_fwd(true, x, out, dim);
  }, "out = log_softmax(input) over dim.", arg("input"), arg("out"), arg("dim"));
  m.def("softmax_backward", [](const py::object& g, const py::object& y, const py::object& gi, int64_t dim) {
    return softmax_bwd(false, g, y, gi, dim);
  }, "grad_input = y * (g - sum(g * y)) over dim; y = softmax output.", arg("grad_output"), arg("output"),
        arg("grad_input"), arg("dim"));
  m.def("log_softmax_backward", [](const py::object& g, const py::object& y, const py::object& gi, int64_t dim) {
    return softmax_bwd(true, g, y, gi, dim);
  }, "grad_input = g - exp(y) * sum(g) over dim; y = log_softmax output.", arg("grad_output"), arg("output"),
        arg("grad_input"), arg("dim"));

  m.def("nll_loss_forward", [](const py::object& in_obj, const py::object& target, const py::object& weight,
                               int64_t ignore_index, const std::string& reduction, const py::object& out_obj) {
    const std::string op = "nll_loss";
    const FloatArray input = float_array(in_obj, op.c_str(), "input", 2, kMaxDims);
    const ClassLoss c = parse_class_loss(op, input, target, weight, ignore_index, reduction, 0.0f);
    const FloatArray out = float_array(out_obj, op.c_str(), "out", 0, kMaxDims, true);
    check_loss_out(out, c, op);
    check_out_disjoint(out, op, "out", c, std::make_pair(input, "input"));
    py::gil_scoped_release release;
    return cpu::nll_loss_forward(input.data, c.p, out.data);
  }, "Writes the loss into out; returns the total weight.", arg("input"), arg("target"), arg("weight"),
        arg("ignore_index"), arg("reduction"), arg("out"));

  m.def("nll_loss_backward", [](const py::object& g_obj, const py::object& target, const py::object& weight,
                                int64_t ignore_index, const std::string& reduction, double total_weight,
                                const py::object& gi_obj) {
    const std::string op = "nll_loss_backward";
    const FloatArray gi = float_array(gi_obj, op.c_str(), "grad_input", 2, kMaxDims, true);
    const ClassLoss c = parse_class_loss(op, gi, target, weight, ignore_index, reduction, 0.0f);
    const FloatArray g = float_array(g_obj, op.c_str(), "grad_output", 0, kMaxDims);
    check_grad_output(g, c.target.shape, c.p.reduction, op);
    check_out_disjoint(gi, op, "grad_input", c, std::make_pair(g, "grad_output"));
    {
      py::gil_scoped_release release;
      cpu::nll_loss_backward(g.data, c.p, total_weight, gi.data);
    }
    return gi_obj;
  }, "grad_input (N, C, ...) of nll_loss; its shape gives the class dimensions.", arg("grad_output"),
        arg("target"), arg("weight"), arg("ignore_index"), arg("reduction"), arg("total_weight"),
        arg("grad_input"));

  m.def("cross_entropy_forward", [](const py::object& in_obj, const py::object& target, const py::object& weight,
                                    int64_t ignore_index, const std::string& reduction, float label_smoothing,
                                    const py::object& out_obj, const py::object& lp_obj) {
    const std::string op = "cross_entropy";
    const FloatArray input = float_array(in_obj, op.c_str(), "input", 2, kMaxDims);
    const ClassLoss c = parse_class_loss(op, input, target, weight, ignore_index, reduction, label_smoothing);
    const FloatArray out = float_array(out_obj, op.c_str(), "out", 0, kMaxDims, true);
    const FloatArray lp = float_array(lp_obj, op.c_str(), "log_probs", 2, kMaxDims, true);
    check_loss_out(out, c, op);
    require_shape(lp, input.shape, op, "log_probs", "the input's shape");
    check_out_disjoint(out, op, "out", c, std::make_pair(input, "input"), std::make_pair(lp, "log_probs"));
    check_out_disjoint(lp, op, "log_probs", c, std::make_pair(input, "input"));
    py::gil_scoped_release release;
    return cpu::cross_entropy_forward(input.data, c.p, out.data, lp.data);
  }, "Writes the loss into out and log_softmax(input, 1) into log_probs; returns the total weight.",
        arg("input"), arg("target"), arg("weight"), arg("ignore_index"), arg("reduction"),
        arg("label_smoothing"), arg("out"), arg("log_probs"));

  m.def("cross_entropy_backward", [](const py::object& g_obj, const py::object& lp_obj, const py::object& target,
                                     const py::object& weight, int64_t ignore_index, const std::string& reduction,
                                     float label_smoothing, double total_weight, const py::object& gi_obj) {
    const std::string op = "cross_entropy_backward";
    const FloatArray lp = float_array(lp_obj, op.c_str(), "log_probs", 2, kMaxDims);
    const ClassLoss c = parse_class_loss(op, lp, target, weight, ignore_index, reduction, label_smoothing);
    const FloatArray g = float_array(g_obj, op.c_str(), "grad_output", 0, kMaxDims);
    const FloatArray gi = float_array(gi_obj, op.c_str(), "grad_input", 2, kMaxDims, true);
    check_grad_output(g, c.target.shape, c.p.reduction, op);
    require_shape(gi, lp.shape, op, "grad_input", "the shape of log_probs");
    check_out_disjoint(gi, op, "grad_input", c, std::make_pair(g, "grad_output"), std::make_pair(lp, "log_probs"));
    {
      py::gil_scoped_release release;
      cpu::cross_entropy_backward(g.data, lp.data, c.p, total_weight, gi.data);
    }
    return gi_obj;
  }, "grad_input = d cross_entropy / d input, from the log_probs the forward wrote.", arg("grad_output"),
        arg("log_probs"), arg("target"), arg("weight"), arg("ignore_index"), arg("reduction"),
        arg("label_smoothing"), arg("total_weight"), arg("grad_input"));

  m.def("mse_loss_forward", [](const py::object& x_obj, const py::object& y_obj, const std::string& reduction,
                               const py::object& out_obj) {
    const std::string op = "mse_loss";
    const FloatArray x = float_array(x_obj, op.c_str(), "input", 0, kMaxDims);
    const FloatArray y = float_array(y_obj, op.c_str(), "target", 0, kMaxDims);
    const FloatArray out = float_array(out_obj, op.c_str(), "out", 0, kMaxDims, true);
    const Reduction r = parse_reduction(reduction, op);
    require_shape(y, x.shape, op, "target", "the input's shape");
    if (r == Reduction::None) require_shape(out, x.shape, op, "out", "reduction='none'");
    else require_numel(out, 1, op, "out");
    check_no_overlap(out, x, op.c_str(), "out", "input");
    check_no_overlap(out, y, op.c_str(), "out", "target");
    {
      py::gil_scoped_release release;
      cpu::mse_loss_forward(x.data, y.data, x.numel(), r, out.data);
    }
    return out_obj;
  }, "out = (input - target)^2, reduced.", arg("input"), arg("target"), arg("reduction"), arg("out"));

  m.def("mse_loss_backward", [](const py::object& g_obj, const py::object& x_obj, const py::object& y_obj,
                                const std::string& reduction, const py::object& gi_obj) {
    const std::string op = "mse_loss_backward";
    const FloatArray g = float_array(g_obj, op.c_str(), "grad_output", 0, kMaxDims);
    const FloatArray x = float_array(x_obj, op.c_str(), "input", 0, kMaxDims);
    const FloatArray y = float_array(y_obj, op.c_str(), "target", 0, kMaxDims);
    const FloatArray gi = float_array(gi_obj, op.c_str(), "grad_input", 0, kMaxDims, true);
    const Reduction r = parse_reduction(reduction, op);
    require_shape(y, x.shape, op, "target", "the input's shape");
    require_shape(gi, x.shape, op, "grad_input", "the input's shape");
    check_grad_output(g, x.shape, r, op);
    check_no_overlap(gi, g, op.c_str(), "grad_input", "grad_output");
    check_no_overlap(gi, x, op.c_str(), "grad_input", "input");
    check_no_overlap(gi, y, op.c_str(), "grad_input", "target");
    {
      py::gil_scoped_release release;
      cpu::mse_loss_backward(g.data, x.data, y.data, x.numel(), r, gi.data);
    }
    return gi_obj;
  }, "grad_input = 2 (input - target) * grad_output (/ numel for 'mean').", arg("grad_output"), arg("input"),
        arg("target"), arg("reduction"), arg("grad_input"));

  // weight and pos_weight: None or arrays of the input's shape (the Python layer broadcasts).
  auto bce_inputs = [](const std::string& op, const py::object& x_obj, const py::object& y_obj,
                       const py::object& w_obj, const py::object& pw_obj) {
    std::vector<FloatArray> a{float_array(x_obj, op.c_str(), "input", 0, kMaxDims),
                              float_array(y_obj, op.c_str(), "target", 0, kMaxDims), FloatArray{}, FloatArray{}};
    require_shape(a[1], a[0].shape, op, "target", "the input's shape");
    if (!w_obj.is_none()) {
      a[2] = float_array(w_obj, op.c_str(), "weight", 0, kMaxDims);
      require_shape(a[2], a[0].shape, op, "weight", "the input's shape");
    }
    if (!pw_obj.is_none()) {
      a[3] = float_array(pw_obj, op.c_str(), "pos_weight", 0, kMaxDims);
      require_shape(a[3], a[0].shape, op, "pos_weight", "the input's shape");
    }
    return a;
  };
  static const char* const kBceNames[] = {"input", "target", "weight", "pos_weight"};

  m.def("binary_cross_entropy_with_logits_forward",
        [bce_inputs](const py::object& x, const py::object& y, const py::object& w, const py::object& pw,
                     const std::string& reduction, const py::object& out_obj) {
    const std::string op = "binary_cross_entropy_with_logits";
    const std::vector<FloatArray> a = bce_inputs(op, x, y, w, pw);
    const Reduction r = parse_reduction(reduction, op);
    const FloatArray out = float_array(out_obj, op.c_str(), "out", 0, kMaxDims, true);
    if (r == Reduction::None) require_shape(out, a[0].shape, op, "out", "reduction='none'");
    else require_numel(out, 1, op, "out");
    for (int k = 0; k < 4; ++k) check_no_overlap(out, a[k], op.c_str(), "out", kBceNames[k]);
    {
      py::gil_scoped_release release;
      cpu::bce_with_logits_forward(a[0].data, a[1].data, a[2].data, a[3].data, a[0].numel(), r, out.data);
    }
    return out_obj;
  }, "Stable binary cross-entropy on logits, reduced.", arg("input"), arg("target"), arg("weight"),
        arg("pos_weight"), arg("reduction"), arg("out"));

  m.def("binary_cross_entropy_with_logits_backward",
        [bce_inputs](const py::object& g_obj, const py::object& x, const py::object& y, const py::object& w,
                     const py::object& pw, const std::string& reduction, const py::object& gi_obj) {
    const std::string op = "binary_cross_entropy_with_logits_backward";
    const std::vector<FloatArray> a = bce_inputs(op, x, y, w, pw);
    const Reduction r = parse_reduction(reduction, op);
    const FloatArray g = float_array(g_obj, op.c_str(), "grad_output", 0, kMaxDims);
    const FloatArray gi = float_array(gi_obj, op.c_str(), "grad_input", 0, kMaxDims, true);
    check_grad_output(g, a[0].shape, r, op);
    require_shape(gi, a[0].shape, op, "grad_input", "the input's shape");
    check_no_overlap(gi, g, op.c_str(), "grad_input", "grad_output");
    for (int k = 0; k < 4; ++k) check_no_overlap(gi, a[k], op.c_str(), "grad_input", kBceNames[k]);
    {
      py::gil_scoped_release release;
      cpu::bce_with_logits_backward(g.data, a[0].data, a[1].data, a[2].data, a[3].data, a[0].numel(), r,
                                    gi.data);
    }
    return gi_obj;
  }, "grad_input of binary_cross_entropy_with_logits.", arg("grad_output"), arg("input"), arg("target"),
        arg("weight"), arg("pos_weight"), arg("reduction"), arg("grad_input"));
}

}  // namespace fastcnn::python
