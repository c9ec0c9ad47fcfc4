"""The ONNX ops fastcnn.onnx.load runs, on fastcnn ops (so an imported graph is differentiable).

builder(node, static) -> (fn, number of outputs): `node` gives the attributes (checked here, at load
time), `static` the values of the inputs listed in STATIC_INPUTS (None elsewhere); fn(*inputs)
returns a tuple of Tensors (None stands for an absent optional input)."""

from __future__ import annotations

import numpy as np

from ..nn import functional as F
from ..tensor import cat, matmul
from .export import UnsupportedOperatorError

# Inputs that configure a node rather than carry data: they must be constants.
STATIC_INPUTS = {"Reshape": (1,), "Pad": (1, 2, 3), "Slice": (1, 2, 3, 4), "ReduceMean": (1,), "Expand": (1,),
                 "Clip": (1, 2), "Dropout": (1, 2)}
# BatchNormalization's running mean and variance: buffers, as torch's, not Parameters.
BUFFER_INPUTS = {"BatchNormalization": (3, 4)}


class ImportContext:
    def __init__(self, onnx, opset, where):
        self.onnx, self.opset, self.where = onnx, opset, where

    def constant_value(self, node):
        n = self.for_node(node, node.name or node.output[0])
        n.check({"value", "value_float", "value_floats", "value_int", "value_ints"})
        if len(n.attrs) != 1:
            n.fail(f"expected exactly one value attribute, got {sorted(n.attrs)}")
        (key, value), = n.attrs.items()
        if key == "value":
            return self.onnx.numpy_helper.to_array(value)
        return np.asarray(value, dtype=np.float32 if "float" in key else np.int64)

    def for_node(self, node, label):
        return NodeInfo(self, node, label)


class NodeInfo:
    def __init__(self, ctx, node, label):
        self.ctx, self.node, self.label, self.opset = ctx, node, label, ctx.opset
        helper = ctx.onnx.helper
        self.attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        for k, v in self.attrs.items():
            if isinstance(v, bytes):
                self.attrs[k] = v.decode()

    def fail(self, message):
        raise UnsupportedOperatorError(f"load: node '{self.label}' ({self.node.op_type}) in {self.ctx.where}: "
                                       f"{message}")

    def check(self, allowed):
        extra = sorted(set(self.attrs) - set(allowed))
        if extra:
            self.fail(f"attribute(s) {extra} are not supported (supported: {sorted(allowed)})")

    def get(self, name, default=None):
        return self.attrs.get(name, default)

    def require(self, name, allowed):
        value = self.attrs.get(name, allowed[0])
        if value not in allowed:
            self.fail(f"{name}={value!r} is not supported (supported: {', '.join(map(repr, allowed))})")
        return value


def _one(fn):
    return lambda *xs: (fn(*xs),)


def _split_pads(node, pads, n):
    pads = [int(p) for p in (pads or [0] * (2 * n))]
    if len(pads) != 2 * n:
        node.fail(f"pads {pads} must have {2 * n} values for a {n}-d kernel")
    if min(pads) < 0:
        node.fail(f"negative pads {pads} are not supported")
    return pads[:n], pads[n:]


# ---- convolution and pooling -------------------------------------------------------------------

def conv(node, static):
    node.check({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})
    auto_pad = node.require("auto_pad", ("NOTSET", "VALID", "SAME_UPPER"))
    group = int(node.get("group", 1))
    kernel = node.get("kernel_shape")
    given = node.get("pads")

    def fn(x, w, b=None):
        n = w.ndim - 2
        if n not in (1, 2) or x.ndim != n + 2:
            node.fail(f"input {tuple(x.shape)} with weight {tuple(w.shape)}: only 1-d and 2-d convolutions "
                      "of batched input are supported")
        if kernel is not None and list(kernel) != list(w.shape[2:]):
            node.fail(f"kernel_shape {list(kernel)} does not match the weight's {list(w.shape[2:])}")
        strides = [int(s) for s in node.get("strides", [1] * n)]
        dil = [int(d) for d in node.get("dilations", [1] * n)]
        if auto_pad == "SAME_UPPER":  # output = ceil(input / stride); the odd pixel goes at the end
            total = [max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
                     for size, s, k, d in zip(x.shape[2:], strides, w.shape[2:], dil)]
            lo, hi = [t // 2 for t in total], [t - t // 2 for t in total]
        elif auto_pad == "VALID":
            lo = hi = [0] * n
        else:
            lo, hi = _split_pads(node, given, n)
        conv_fn = F.conv2d if n == 2 else F.conv1d
        if lo != hi:  # asymmetric: pad explicitly, then convolve unpadded
            widths = []
            for a, c in zip(reversed(lo), reversed(hi)):
                widths += [a, c]
            x, lo = F.pad(x, widths), [0] * n
        return (conv_fn(x, w, b, strides, lo, dil, group),)
    return fn, 1


def _pool_attrs(node, op, extra=()):
    node.check({"auto_pad", "ceil_mode", "kernel_shape", "pads", "strides", "dilations", *extra})
    node.require("auto_pad", ("NOTSET", "VALID"))
    kernel = [int(k) for k in node.get("kernel_shape", [])]
    if len(kernel) != 2:
        node.fail(f"kernel_shape {kernel}: only 2-d pooling is supported")
    lo, hi = _split_pads(node, node.get("pads") if node.get("auto_pad", "NOTSET") == "NOTSET" else None, 2)
    if lo != hi:
        node.fail(f"asymmetric pads {lo + hi} are not supported")
    strides = [int(s) for s in node.get("strides", [1, 1])]
    dil = [int(d) for d in node.get("dilations", [1, 1])]
    return kernel, strides, lo, dil, bool(node.get("ceil_mode", 0))


def max_pool(node, static):
    kernel, strides, pads, dil, ceil_mode = _pool_attrs(node, "MaxPool", ("storage_order",))
    if node.get("storage_order", 0) != 0:
        node.fail("storage_order=1 (column-major indices) is not supported")
    return _one(lambda x: F.max_pool2d(x, kernel, strides, pads, dil, ceil_mode)), 1


def average_pool(node, static):
    kernel, strides, pads, dil, ceil_mode = _pool_attrs(node, "AveragePool", ("count_include_pad",))
    if dil != [1, 1]:
        node.fail(f"dilations {dil} are not supported")
    include = bool(node.get("count_include_pad", 0))
    return _one(lambda x: F.avg_pool2d(x, kernel, strides, pads, ceil_mode, include)), 1


def global_average_pool(node, static):
    node.check(())
    return _one(lambda x: x.mean(tuple(range(2, x.ndim)), keepdim=True)), 1


# ---- linear algebra and arithmetic ----------------------------------------------------------------

def gemm(node, static):
    node.check({"alpha", "beta", "transA", "transB"})
    alpha, beta = float(node.get("alpha", 1.0)), float(node.get("beta", 1.0))
    trans_a, trans_b = bool(node.get("transA", 0)), bool(node.get("transB", 0))

    def fn(a, b, c=None):
        if a.ndim != 2 or b.ndim != 2:
            node.fail(f"inputs must be 2-d, got {tuple(a.shape)} and {tuple(b.shape)}")
        a = a.t() if trans_a else a
        if trans_b and alpha == 1.0 and (c is None or beta == 1.0 and c.ndim == 1):
            return (F.linear(a, b, c),)  # the common Linear layer, in one call
        y = matmul(a, b.t() if trans_b else b)
        y = y * alpha if alpha != 1.0 else y
        if c is not None:
            y = y + (c * beta if beta != 1.0 else c)
        return (y,)
    return fn, 1


def _binary(op):
    def build(node, static):
        node.check(())
        return _one(op), 1
    return build


def _unary(fn):
    def build(node, static):
        node.check(())
        return _one(fn), 1
    return build


def _static_scalar(static, i):
    value = static[i] if i < len(static) else None
    value = None if value is None else np.asarray(value).reshape(-1)
    return None if value is None or value.size == 0 else float(value[0])


def clip(node, static):
    node.check({"min", "max"} if node.opset < 11 else ())
    if node.opset < 11:
        lo, hi = node.get("min"), node.get("max")
    else:
        lo, hi = _static_scalar(static, 1), _static_scalar(static, 2)
    if lo is None and hi is None:
        return (lambda x, *_: (x,)), 1
    return (lambda x, *_: (x.clamp(lo, hi),)), 1


def leaky_relu(node, static):
    node.check({"alpha"})
    alpha = float(node.get("alpha", 0.01))
    return _one(lambda x: F.leaky_relu(x, alpha)), 1


def _softmax(fn):
    def build(node, static):
        node.check({"axis"})
        axis = int(node.get("axis", -1 if node.opset >= 13 else 1))

        def run(x):
            a = axis % x.ndim
            if node.opset >= 13 or a == x.ndim - 1:
                return (fn(x, a),)
            # Before opset 13: over all dimensions from axis on, flattened.
            return (fn(x.reshape(int(np.prod(x.shape[:a])), -1), 1).reshape(*x.shape),)
        return run, 1
    return build


# ---- normalization ---------------------------------------------------------------------------------

def batch_normalization(node, static):
    node.check({"epsilon", "momentum", "training_mode", "spatial"})
    if node.get("training_mode", 0):
        node.fail("training_mode=1 is not supported (inference only)")
    if node.get("spatial", 1) != 1:
        node.fail("spatial=0 is not supported")
    eps = float(node.get("epsilon", 1e-5))
    return _one(lambda x, scale, b, mean, var: F.batch_norm(x, mean, var, scale, b, False, 0.0, eps)), 1


def lrn(node, static):
    node.check({"alpha", "beta", "bias", "size"})
    if "size" not in node.attrs:
        node.fail("the size attribute is required")
    size, alpha = int(node.get("size")), float(node.get("alpha", 1e-4))
    beta, bias = float(node.get("beta", 0.75)), float(node.get("bias", 1.0))
    return _one(lambda x: F.local_response_norm(x, size, alpha, beta, bias)), 1


def dropout(node, static):
    node.check({"ratio", "seed", "is_test"})
    training = static[2] if len(static) > 2 else None
    if training is not None and bool(np.asarray(training)):
        node.fail("training_mode=True is not supported (inference only)")
    return (lambda x, *_: (x,)), 1


# ---- shape ops --------------------------------------------------------------------------------------

def concat(node, static):
    node.check({"axis"})
    if "axis" not in node.attrs:
        node.fail("the axis attribute is required")
    axis = int(node.get("axis"))
    return (lambda *xs: (cat([x for x in xs if x is not None], axis),)), 1


def flatten(node, static):
    node.check({"axis"})
    axis = int(node.get("axis", 1))

    def fn(x):
        a = axis + x.ndim if axis < 0 else axis
        return (x.reshape(int(np.prod(x.shape[:a])), int(np.prod(x.shape[a:]))),)
    return fn, 1


def reshape(node, static):
    node.check({"allowzero"})
    allow_zero = bool(node.get("allowzero", 0))
    shape = [int(s) for s in np.asarray(static[1]).reshape(-1)]

    def fn(x, _):
        target = [x.shape[i] if s == 0 and not allow_zero else s for i, s in enumerate(shape)]
        return (x.reshape(*target),)
    return fn, 1


def transpose(node, static):
    node.check({"perm"})
    perm = node.get("perm")
    return _one(lambda x: x.permute(*(perm if perm is not None else reversed(range(x.ndim))))), 1


def expand(node, static):
    node.check(())
    shape = tuple(int(s) for s in np.asarray(static[1]).reshape(-1))
    return (lambda x, _: (x.expand(*np.broadcast_shapes(x.shape, shape)),)), 1


def pad(node, static):
    if node.opset < 11:
        node.check({"mode", "pads", "value"})
        pads, value, axes = node.get("pads"), float(node.get("value", 0.0)), None
    else:
        node.check({"mode"})
        pads = [int(p) for p in np.asarray(static[1]).reshape(-1)]
        value = _static_scalar(static, 2) or 0.0
        axes = None if len(static) < 4 or static[3] is None else [int(a) for a in np.asarray(static[3]).reshape(-1)]
    node.require("mode", ("constant",))
    if min(pads, default=0) < 0:
        node.fail(f"negative pads {list(pads)} are not supported")

    def fn(x, *_):
        ax = list(range(x.ndim)) if axes is None else [a % x.ndim for a in axes]
        if len(pads) != 2 * len(ax):
            node.fail(f"pads {list(pads)} must have 2 values per padded axis ({len(ax)} axes)")
        begins, ends = dict(zip(ax, pads[:len(ax)])), dict(zip(ax, pads[len(ax):]))
        widths = []
        for a in reversed(range(x.ndim)):  # torch's order: last dimension first
            widths += [begins.get(a, 0), ends.get(a, 0)]
        return (F.pad(x, widths, value=value),)
    return fn, 1


def reduce_mean(node, static):
    node.check({"axes", "keepdims", "noop_with_empty_axes"})
    keep = bool(node.get("keepdims", 1))
    axes = node.get("axes") if node.opset < 18 else (None if len(static) < 2 or static[1] is None
                                                      else [int(a) for a in np.asarray(static[1]).reshape(-1)])
    noop = bool(node.get("noop_with_empty_axes", 0))

    def fn(x, *_):
        if not axes:
            return (x,) if noop else (x.mean(None, keepdim=keep),)
        return (x.mean(tuple(axes), keepdim=keep),)
    return fn, 1


def slice_(node, static):
    node.check(())
    starts, ends = (np.asarray(s).reshape(-1).tolist() for s in static[1:3])
    axes = None if len(static) < 4 or static[3] is None else np.asarray(static[3]).reshape(-1).tolist()
    steps = None if len(static) < 5 or static[4] is None else np.asarray(static[4]).reshape(-1).tolist()

    def fn(x, *_):
        index = [slice(None)] * x.ndim
        for i, (b, e) in enumerate(zip(starts, ends)):
            a = (axes[i] if axes is not None else i) % x.ndim
            step = steps[i] if steps is not None else 1
            if step == 0:
                node.fail("a step of 0 is not allowed")
            index[a] = slice(int(b), int(e), int(step))
        return (x[tuple(index)],)
    return fn, 1


OPS = {
    "Conv": conv, "MaxPool": max_pool, "AveragePool": average_pool, "GlobalAveragePool": global_average_pool,
    "Gemm": gemm, "MatMul": _binary(matmul), "Add": _binary(lambda a, b: a + b), "Sub": _binary(lambda a, b: a - b),
    "Mul": _binary(lambda a, b: a * b), "Div": _binary(lambda a, b: a / b),
    "Relu": _unary(F.relu), "Tanh": _unary(F.tanh), "Sigmoid": _unary(F.sigmoid), "Identity": _unary(lambda x: x),
    "Clip": clip, "LeakyRelu": leaky_relu, "Softmax": _softmax(F.softmax), "LogSoftmax": _softmax(F.log_softmax),
    "BatchNormalization": batch_normalization, "LRN": lrn, "Dropout": dropout, "Concat": concat,
    "Flatten": flatten, "Reshape": reshape, "Transpose": transpose, "Expand": expand, "Pad": pad,
    "ReduceMean": reduce_mean, "Slice": slice_,
}
