"""One ONNX node (or a few) per traced op: emit(tracer, out, *the op's arguments) -> None.

Each emitter runs after the op itself, so its arguments were already checked and `out` holds
the result (whose shape settles what the arguments meant)."""

from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor

INT64_MAX = np.iinfo(np.int64).max


def _ints(value, n):
    return [int(value)] * n if isinstance(value, numbers.Integral) else [int(v) for v in value]


def _i64(values):
    return np.asarray(values, dtype=np.int64)


def _f32(value):
    return np.asarray(value, dtype=np.float32)


def _axis(dim, ndim):
    return int(dim) % max(ndim, 1)


def _operand(tr, x, op):
    if isinstance(x, Tensor):
        if x.dtype != np.float32:
            tr.fail(op, f"an operand has dtype {x.dtype}; only float32 values are exported")
        return tr.value(x, op)
    return tr.const(_f32(x))  # a Python number or an array


def _float_out(tr, out, op):
    if out.dtype != np.float32:
        tr.fail(op, f"its result has dtype {out.dtype}; only float32 values are exported")


# ---- layers -----------------------------------------------------------------------------------

def conv(tr, out, input, weight, bias, stride, padding, dilation, groups):
    op = f"conv{weight.ndim - 2}d"
    if input.ndim != weight.ndim:
        tr.fail(op, f"unbatched input of shape {tuple(input.shape)} is not exported; add a batch dimension")
    n = weight.ndim - 2
    kernel, dil = list(weight.shape[2:]), _ints(dilation, n)
    if isinstance(padding, str):  # 'same' puts the odd pixel at the end, as torch
        total = [0] * n if padding == "valid" else [d * (k - 1) for d, k in zip(dil, kernel)]
        pads = [t // 2 for t in total] + [t - t // 2 for t in total]
    else:
        p = _ints(padding, n)
        pads = p + p
    inputs = [tr.value(input, op), tr.value(weight, op)] + ([tr.value(bias, op)] if bias is not None else [])
    tr.node("Conv", inputs, out, kernel_shape=kernel, strides=_ints(stride, n), pads=pads, dilations=dil,
            group=int(groups))


def linear(tr, out, input, weight, bias):
    x, w = tr.value(input, "linear"), tr.value(weight, "linear")
    if input.ndim == 2:
        tr.node("Gemm", [x, w] + ([tr.value(bias, "linear")] if bias is not None else []), out, transB=1)
        return
    y = tr.node("MatMul", [x, tr.node("Transpose", [w], None, perm=[1, 0])], None if bias is not None else out)
    if bias is not None:
        tr.node("Add", [y, tr.value(bias, "linear")], out)


def _pool_args(tr, op, input, kernel_size, stride, padding):
    if input.ndim != 4:
        tr.fail(op, f"input of shape {tuple(input.shape)} is not exported; expected (N, C, H, W)")
    k = _ints(kernel_size, 2)
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else _ints(stride, 2)
    p = _ints(padding, 2)
    return k, s, p + p


def max_pool2d(tr, out, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    if return_indices:
        tr.fail("max_pool2d", "return_indices=True is not exported (ONNX MaxPool's indices differ)")
    k, s, pads = _pool_args(tr, "max_pool2d", input, kernel_size, stride, padding)
    tr.node("MaxPool", [tr.value(input, "max_pool2d")], out, kernel_shape=k, strides=s, pads=pads,
            dilations=_ints(dilation, 2), ceil_mode=int(bool(ceil_mode)))


def avg_pool2d(tr, out, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    if divisor_override is not None:
        tr.fail("avg_pool2d", "divisor_override has no ONNX AveragePool equivalent")
    k, s, pads = _pool_args(tr, "avg_pool2d", input, kernel_size, stride, padding)
    tr.node("AveragePool", [tr.value(input, "avg_pool2d")], out, kernel_shape=k, strides=s, pads=pads,
            ceil_mode=int(bool(ceil_mode)), count_include_pad=int(bool(count_include_pad)))


def adaptive_avg_pool2d(tr, out, input, output_size):
    op = "adaptive_avg_pool2d"
    if input.ndim != 4:
        tr.fail(op, f"input of shape {tuple(input.shape)} is not exported; expected (N, C, H, W)")
    (h, w), (oh, ow) = input.shape[2:], out.shape[2:]
    x = tr.value(input, op)
    if oh == ow == 1:
        tr.node("GlobalAveragePool", [x], out)
    elif h % oh == 0 and w % ow == 0:  # even windows: a plain average pool
        tr.node("AveragePool", [x], out, kernel_shape=[h // oh, w // ow], strides=[h // oh, w // ow])
    elif h == w == 1:  # every output cell averages the one input cell
        tr.node("Expand", [x, tr.const(_i64([1, 1, oh, ow]), "shape")], out)
    else:
        tr.fail(op, f"input {h}x{w} to output {oh}x{ow} gives uneven windows, which ONNX pooling cannot "
                    f"express; export at an input size whose feature map is a multiple of {oh}x{ow}")


def batch_norm(tr, out, input, running_mean, running_var, weight, bias, training, momentum, eps):
    op = "batch_norm"
    if training or running_mean is None or running_var is None:
        tr.fail(op, "batch statistics (training=True or no running statistics) are not exported; export runs "
                    "in eval mode with running statistics")
    c = input.shape[1]
    scale = tr.value(weight, op) if weight is not None else tr.const(np.ones(c, np.float32), "ones")
    shift = tr.value(bias, op) if bias is not None else tr.const(np.zeros(c, np.float32), "zeros")
    tr.node("BatchNormalization", [tr.value(input, op), scale, shift, tr.value(running_mean, op),
                                   tr.value(running_var, op)], out, epsilon=float(eps))


def dropout(tr, out, input, p, training, inplace):
    if out is not input:  # dropout(training=False) or p == 0 returns its input: nothing to record
        tr.fail("dropout", "dropout with training=True is random and not exported (export runs in eval mode)")


def local_response_norm(tr, out, input, size, alpha, beta, k):
    tr.node("LRN", [tr.value(input, "local_response_norm")], out, size=int(size), alpha=float(alpha),
            beta=float(beta), bias=float(k))


def pad(tr, out, input, pad, mode, value):
    n = len(pad) // 2
    begins, ends = [0] * input.ndim, [0] * input.ndim
    for i in range(n):
        begins[input.ndim - 1 - i], ends[input.ndim - 1 - i] = int(pad[2 * i]), int(pad[2 * i + 1])
    x = tr.value(input, "pad")
    tr.node("Pad", [x, tr.const(_i64(begins + ends), "pads"), tr.const(_f32(0 if value is None else value))],
            out, mode="constant")


# ---- activations ------------------------------------------------------------------------------

def _unary(op_type, op, **attrs):
    def emit(tr, out, input, *rest):
        tr.node(op_type, [tr.value(input, op)], out, **attrs)
    return emit


def leaky_relu(tr, out, input, negative_slope, inplace):
    tr.node("LeakyRelu", [tr.value(input, "leaky_relu")], out, alpha=float(negative_slope))


def _softmax(op_type, op):
    def emit(tr, out, input, dim, dtype):
        tr.node(op_type, [tr.value(input, op)], out, axis=_axis(dim, input.ndim))
    return emit


def clamp(tr, out, self, min, max):
    _float_out(tr, out, "clamp")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        tr.fail("clamp", "tensor bounds are not exported; use numbers")
    bounds = ["" if b is None else tr.const(_f32(b)) for b in (min, max)]
    while bounds and bounds[-1] == "":
        bounds.pop()
    tr.node("Clip", [tr.value(self, "clamp")] + bounds, out)


# ---- tensor ops ---------------------------------------------------------------------------------

def _binary(op_type, op):
    def emit(tr, out, a, b):
        _float_out(tr, out, op)
        tr.node(op_type, [_operand(tr, a, op), _operand(tr, b, op)], out)
    return emit


def matmul(tr, out, a, b):
    tr.node("MatMul", [tr.value(a, "matmul"), tr.value(b, "matmul")], out)


def cat(tr, out, tensors, dim):
    _float_out(tr, out, "cat")
    tr.node("Concat", [_operand(tr, t, "cat") for t in tensors], out, axis=_axis(dim, out.ndim))


def _reshape_to(tr, out, self, shape, op):
    tr.node("Reshape", [tr.value(self, op), tr.const(_i64(shape), "shape")], out)


def reshape(tr, out, self, *shape):
    if out is self:
        return
    target = list(out.shape)
    if out.ndim == 1:
        target = [-1]
    elif self.ndim and tr.dynamic_batch and out.shape[0] == self.shape[0]:
        target[0] = 0  # 0 copies the input's (dynamic) batch size
    _reshape_to(tr, out, self, target, "reshape")


def flatten(tr, out, self, start_dim, end_dim):
    if out is self:
        return
    if self.ndim == 0:
        return _reshape_to(tr, out, self, [1], "flatten")
    s, e = _axis(start_dim, self.ndim), _axis(end_dim, self.ndim)
    if s == 1 and e == self.ndim - 1:
        tr.node("Flatten", [tr.value(self, "flatten")], out, axis=1)
    else:  # 0 keeps a leading dimension as it is at run time; -1 takes whatever the merged one holds
        _reshape_to(tr, out, self, [0] * s + [-1] + list(self.shape[e + 1:]), "flatten")


def mean(tr, out, self, dim, keepdim):
    _float_out(tr, out, "mean")
    axes = list(range(self.ndim)) if dim is None else \
        sorted({_axis(d, self.ndim) for d in ((dim,) if isinstance(dim, numbers.Integral) else dim)})
    x = tr.value(self, "mean")
    if tr.opset >= 18:
        tr.node("ReduceMean", [x, tr.const(_i64(axes), "axes")], out, keepdims=int(bool(keepdim)))
    else:
        tr.node("ReduceMean", [x], out, axes=axes, keepdims=int(bool(keepdim)))


def getitem(tr, out, self, index):
    items = index if isinstance(index, tuple) else (index,)
    if not all(isinstance(i, slice) for i in items) or len(items) > self.ndim:
        tr.fail("getitem", f"index {index!r} is not exported; only basic slices (start:stop:step) are")
    starts, ends, axes, steps = [], [], [], []
    for axis, s in enumerate(items):
        if s == slice(None):
            continue
        step = 1 if s.step is None else int(s.step)
        if step < 1:
            tr.fail("getitem", f"slice {s} has step {step}; only positive steps are exported")
        starts.append(0 if s.start is None else int(s.start))
        ends.append(INT64_MAX if s.stop is None else int(s.stop))
        axes.append(axis)
        steps.append(step)
    x = tr.value(self, "getitem")
    if not axes:
        tr.node("Identity", [x], out)
        return
    tr.node("Slice", [x, tr.const(_i64(starts), "starts"), tr.const(_i64(ends), "ends"),
                      tr.const(_i64(axes), "axes"), tr.const(_i64(steps), "steps")], out)


EMITTERS = {
    "conv1d": conv, "conv2d": conv, "linear": linear, "max_pool2d": max_pool2d, "avg_pool2d": avg_pool2d,
    "adaptive_avg_pool2d": adaptive_avg_pool2d, "batch_norm": batch_norm, "dropout": dropout,
    "local_response_norm": local_response_norm, "pad": pad,
    "relu": _unary("Relu", "relu"), "tanh": _unary("Tanh", "tanh"), "sigmoid": _unary("Sigmoid", "sigmoid"),
    "leaky_relu": leaky_relu, "softmax": _softmax("Softmax", "softmax"),
    "log_softmax": _softmax("LogSoftmax", "log_softmax"), "clamp": clamp,
    "add": _binary("Add", "add"), "sub": _binary("Sub", "sub"), "mul": _binary("Mul", "mul"),
    "div": _binary("Div", "div"), "matmul": matmul, "cat": cat, "reshape": reshape, "flatten": flatten,
    "mean": mean, "getitem": getitem,
}
