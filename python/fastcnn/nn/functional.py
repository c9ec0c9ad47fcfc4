"""torch.nn.functional on fastcnn Tensors: each op runs a fastcnn.ops kernel forward and
records a node whose backward calls the matching *_backward kernel (rule right under it).

Signatures and defaults follow PyTorch 2.x; the deprecated size_average/reduce arguments
are accepted only as None.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import ops
from ..ops._args import as_tuple, shape_str
from ..autograd import Owned, is_grad_enabled
from ..random import default_generator
from ..backend import _C
from ..tensor import SAVE_INPUT, SAVE_OUTPUT, Tensor, _mm2, _record, _unary, float32, int64
from ..tensor import _trace  # fastcnn.onnx.export records the ops below while it runs

__all__ = [
    "conv1d", "conv2d", "linear", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "relu", "leaky_relu",
    "hardtanh", "relu6", "tanh", "sigmoid", "softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss",
    "binary_cross_entropy_with_logits", "batch_norm", "dropout", "local_response_norm", "pad", "flatten",
]


def _t(x, op, name, dtype=float32) -> Tensor:
    if isinstance(x, Tensor) and x._data.dtype is dtype:  # the common case, one identity check
        return x
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a fastcnn.Tensor, got {type(x).__name__}")
    if x.dtype != dtype:
        raise TypeError(f"{op}: {name} has dtype {x.dtype}, expected {dtype}")
    return x


def _opt(x, op, name):
    return None if x is None else _t(x, op, name)


def _arr(x):
    return None if x is None else x._data


def _legacy(op, size_average, reduce):
    if size_average is not None or reduce is not None:
        raise ValueError(f"{op}: size_average and reduce are deprecated; use reduction=")


def _flag(value, op, name) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be a bool, got {value!r}")
    return bool(value)


# ---- convolution and linear ---------------------------------------------------------------

def _conv(op, fwd, bwd, input, weight, bias, stride, padding, dilation, groups):
    x, w, b = _t(input, op, "input"), _t(weight, op, "weight"), _opt(bias, op, "bias")
    if x._data.ndim == w._data.ndim - 1:  # unbatched input (C, H, W) / (C, L), as torch accepts
        return _conv(op, fwd, bwd, x.unsqueeze(0), w, b, stride, padding, dilation, groups)[0]
    args = (stride, padding, dilation, groups)
    out = fwd(x._data, w._data, _arr(b), *args)

    def backward(g):
        gx, gw, gb = bwd(g, x._data, w._data, *args,
                         output_mask=(x.requires_grad, w.requires_grad, b is not None and b.requires_grad))
        # The kernels' fresh arrays: the weight and bias may keep them as their .grad.
        return gx, None if gw is None else Owned(gw), None if gb is None else Owned(gb)
    return _record("ConvolutionBackward0", out, (x, w, b), backward, saved=(x, w))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("conv2d", conv2d, input, weight, bias, stride, padding, dilation, groups)
    return _conv("conv2d", ops.conv2d, ops.conv2d_backward, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("conv1d", conv1d, input, weight, bias, stride, padding, dilation, groups)
    return _conv("conv1d", ops.conv1d, ops.conv1d_backward, input, weight, bias, stride, padding, dilation, groups)


def linear(input, weight, bias=None) -> Tensor:
    """input @ weight.T + bias; the gradient comes from matmul's and add's rules."""
    if _trace.tracer is not None:
        return _trace.tracer.op("linear", linear, input, weight, bias)
    x, w = _t(input, "linear", "input"), _t(weight, "linear", "weight")
    if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"linear: input {shape_str(x.shape)} and weight {shape_str(w.shape)} do not match "
                         f"(weight must be (out_features, {x.shape[-1] if x.ndim else '?'}))")
    b = None
    if bias is not None:
        b = _t(bias, "linear", "bias")
        if b.shape != (w.shape[0],):
            raise ValueError(f"linear: bias has shape {shape_str(b.shape)}, expected ({w.shape[0]},)")
    # One rule for the whole op, so the weight's gradient comes out of the GEMM in the
    # weight's own (row-major) layout: through matmul and t() it arrived transposed, and
    # making it row-major again cost VGG-11 a second per training step (its 4096 x 25088
    # classifier weight).
    x2 = x._data if x.ndim == 2 else x._data.reshape(-1, x.shape[-1])
    wd = w._data
    out = _mm2(x2, wd.T)
    if b is not None:
        out += b._data
    out = out.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(g):
        g2 = g.reshape(-1, g.shape[-1])
        gx = _mm2(g2, wd).reshape(x.shape) if x.requires_grad else None
        gw = Owned(_mm2(g2.T, x2)) if w.requires_grad else None
        gb = np.add.reduce(g2, axis=0) if b is not None and b.requires_grad else None
        return gx, gw, gb
    return _record("AddmmBackward0", out, (x, w, b), backward, saved=(x, w))


# ---- pooling ------------------------------------------------------------------------------

def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    if _trace.tracer is not None:
        return _trace.tracer.op("max_pool2d", max_pool2d, input, kernel_size, stride, padding, dilation, ceil_mode,
                                return_indices)
    x = input if isinstance(input, Tensor) and input._data.dtype is float32 else _t(input, "max_pool2d", "input")
    out, indices = ops.max_pool2d(x._data, kernel_size, stride, padding, dilation, ceil_mode)
    shape = x._data.shape
    res = _unary("MaxPool2DWithIndicesBackward0", out, x, lambda g: (ops.max_pool2d_backward(g, indices, shape),),
                 SAVE_INPUT)
    return (res, Tensor._wrap(indices)) if return_indices else res


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("avg_pool2d", avg_pool2d, input, kernel_size, stride, padding, ceil_mode,
                                count_include_pad, divisor_override)
    x = _t(input, "avg_pool2d", "input")
    args = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    out = ops.avg_pool2d(x._data, *args)
    shape = x.shape
    return _record("AvgPool2DBackward0", out, (x,), lambda g: (ops.avg_pool2d_backward(g, shape, *args),))


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("adaptive_avg_pool2d", adaptive_avg_pool2d, input, output_size)
    x = _t(input, "adaptive_avg_pool2d", "input")
    out = ops.adaptive_avg_pool2d(x._data, output_size)
    shape = x.shape
    return _record("AdaptiveAvgPool2DBackward0", out, (x,),
                   lambda g: (ops.adaptive_avg_pool2d_backward(g, shape),))


# ---- activations ---------------------------------------------------------------------------

def _write_back(x: Tensor, res: Tensor, op: str) -> Tensor:
    """inplace=True: res's values written into x (only where no gradient is involved)."""
    if x.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{op}: inplace=True on a tensor that requires grad is not supported; use inplace=False")
    return x.copy_(res.detach())


def relu(input, inplace=False) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("relu", relu, input, inplace)
    x = input if isinstance(input, Tensor) and input._data.dtype is float32 else _t(input, "relu", "input")
    xd = x._data
    flags = xd.flags  # a ready array goes straight to the kernel, which checks it again
    out = _C.relu_forward(xd, np.empty(xd.shape, float32)) if flags.c_contiguous and flags.aligned else ops.relu(xd)
    res = _unary("ReluBackward0", out, x, lambda g: (ops.relu_backward(g, out),), SAVE_OUTPUT)
    return _write_back(x, res, "relu") if inplace else res


def leaky_relu(input, negative_slope=0.01, inplace=False) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("leaky_relu", leaky_relu, input, negative_slope, inplace)
    x = _t(input, "leaky_relu", "input")
    out = ops.leaky_relu(x._data, negative_slope)
    res = _record("LeakyReluBackward0", out, (x,), lambda g: (ops.leaky_relu_backward(g, x._data, negative_slope),),
                  saved=(x,))
    return _write_back(x, res, "leaky_relu") if inplace else res


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False) -> Tensor:
    """input clamped to [min_val, max_val]; the gradient is 0 at the bounds, as torch's."""
    x = _t(input, "hardtanh", "input")
    if _trace.tracer is not None:
        return x.clamp(min_val, max_val)  # exported as Clip
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} is greater than max_val {max_val}")
    out = ops.clamp(x._data, min_val, max_val)
    res = _record("HardtanhBackward0", out, (x,),
                  lambda g: (ops.hardtanh_backward(g, x._data, min_val, max_val),), saved=(x,))
    return _write_back(x, res, "hardtanh") if inplace else res


def relu6(input, inplace=False) -> Tensor:
    """min(max(input, 0), 6): hardtanh(input, 0, 6), as torch."""
    return hardtanh(input, 0.0, 6.0, inplace)


def tanh(input) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("tanh", tanh, input)
    x = _t(input, "tanh", "input")
    out = ops.tanh(x._data)
    return _unary("TanhBackward0", out, x, lambda g: (ops.tanh_backward(g, out),), SAVE_OUTPUT)


def sigmoid(input) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("sigmoid", sigmoid, input)
    x = _t(input, "sigmoid", "input")
    out = ops.sigmoid(x._data)
    return _unary("SigmoidBackward0", out, x, lambda g: (ops.sigmoid_backward(g, out),), SAVE_OUTPUT)


def _softmax_args(input, dim, dtype, op):
    if dtype is None and isinstance(input, Tensor) and input._data.dtype is float32 and dim is not None:
        return input, dim  # the common case
    if dim is None:
        raise TypeError(f"{op}: dim must be given (an int), as in torch.nn.functional.{op}")
    if dtype is not None and np.dtype(dtype) != float32:
        raise TypeError(f"{op}: dtype must be None or fastcnn.float32, got {dtype!r}")
    x = input.float() if isinstance(input, Tensor) and input.dtype != float32 else input
    return _t(x, op, "input"), dim


def _softmax_kernel(xd, dim, kernel, checked):
    """kernel straight on a ready array with an int dim in range, else the checked fastcnn.ops function."""
    n = xd.ndim
    if type(dim) is int and n and -n <= dim < n:
        flags = xd.flags
        if flags.c_contiguous and flags.aligned:
            return kernel(xd, np.empty(xd.shape, float32), dim % n)
    return checked(xd, dim)


def softmax(input, dim=None, dtype=None) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("softmax", softmax, input, dim, dtype)
    x, dim = _softmax_args(input, dim, dtype, "softmax")
    out = _softmax_kernel(x._data, dim, _C.softmax_forward, ops.softmax)
    return _unary("SoftmaxBackward0", out, x, lambda g: (ops.softmax_backward(g, out, dim),), SAVE_OUTPUT)


def log_softmax(input, dim=None, dtype=None) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("log_softmax", log_softmax, input, dim, dtype)
    x, dim = _softmax_args(input, dim, dtype, "log_softmax")
    out = _softmax_kernel(x._data, dim, _C.log_softmax_forward, ops.log_softmax)
    return _unary("LogSoftmaxBackward0", out, x, lambda g: (ops.log_softmax_backward(g, out, dim),), SAVE_OUTPUT)


# ---- losses ---------------------------------------------------------------------------------

def _target(target, op) -> Tensor:
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: target must be a fastcnn.Tensor, got {type(target).__name__}")
    if target.dtype != int64:
        raise TypeError(f"{op}: target must hold int64 class indices, got dtype {target.dtype} "
                        "(class probabilities are not supported)")
    return target


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0) -> Tensor:
    op = "cross_entropy"
    _legacy(op, size_average, reduce)
    x, t, w = _t(input, op, "input"), _target(target, op), _opt(weight, op, "weight")
    loss, log_probs, total = ops.cross_entropy(x._data, t._data, _arr(w), ignore_index, reduction, label_smoothing)
    tgt, wa = t._data, _arr(w)
    return _record("NllLossBackward0", loss, (x,), lambda g: (
        ops.cross_entropy_backward(g, log_probs, tgt, wa, ignore_index, reduction, label_smoothing, total),),
        saved=(t,) + (() if w is None else (w,)))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean") -> Tensor:
    op = "nll_loss"
    _legacy(op, size_average, reduce)
    x, t, w = _t(input, op, "input"), _target(target, op), _opt(weight, op, "weight")
    loss, total = ops.nll_loss(x._data, t._data, _arr(w), ignore_index, reduction)
    shape = x.shape
    return _record("NllLossBackward0", loss, (x,), lambda g: (
        ops.nll_loss_backward(g, np.empty(shape, np.float32), t._data, _arr(w), ignore_index, reduction, total),),
        saved=(t,) + (() if w is None else (w,)))


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean") -> Tensor:
    op = "mse_loss"
    _legacy(op, size_average, reduce)
    x, y = _t(input, op, "input"), _t(target, op, "target")
    if x.shape != y.shape:
        raise ValueError(f"mse_loss: input {shape_str(x.shape)} and target {shape_str(y.shape)} must have the "
                         "same shape")
    out = ops.mse_loss(x._data, y._data, reduction)

    def backward(g):
        gx = ops.mse_loss_backward(g, x._data, y._data, reduction)
        return gx, -gx
    return _record("MseLossBackward0", out, (x, y), backward, saved=(x, y))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None) -> Tensor:
    op = "binary_cross_entropy_with_logits"
    _legacy(op, size_average, reduce)
    x, y = _t(input, op, "input"), _t(target, op, "target")
    w, pw = _opt(weight, op, "weight"), _opt(pos_weight, op, "pos_weight")
    out = ops.binary_cross_entropy_with_logits(x._data, y._data, _arr(w), _arr(pw), reduction)

    def backward(g):
        gx = ops.binary_cross_entropy_with_logits_backward(g, x._data, y._data, _arr(w), _arr(pw), reduction)
        gy = None
        if y.requires_grad:  # d/dt = w * ((pos_weight - 1) * softplus(-x) - x), scaled as gx
            xd = x._data.astype(np.float64)
            sp = np.logaddexp(0, -xd)
            d = ((_arr(pw) - 1 if pw is not None else 0) * sp - xd)
            if w is not None:
                d = d * w._data
            scale = np.asarray(g, np.float64)
            if reduction == "mean":
                scale = scale / x.numel()
            gy = (d * scale).astype(np.float32)
        return gx, gy
    return _record("BinaryCrossEntropyWithLogitsBackward0", out, (x, y), backward, saved=(x, y))


# ---- normalization and dropout ----------------------------------------------------------------

def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5) -> Tensor:
    """Running statistics (Tensors or None) are updated in place in training; their versions bump."""
    if _trace.tracer is not None:
        return _trace.tracer.op("batch_norm", batch_norm, input, running_mean, running_var, weight, bias,
                                training, momentum, eps)
    op = "batch_norm"
    x = _t(input, op, "input")
    rm, rv = _opt(running_mean, op, "running_mean"), _opt(running_var, op, "running_var")
    w, b = _opt(weight, op, "weight"), _opt(bias, op, "bias")
    out, mean, invstd = ops.batch_norm(x._data, _arr(rm), _arr(rv), _arr(w), _arr(b), training, momentum, eps)
    if training:
        for stat in (rm, rv):
            if stat is not None:
                stat._bump()
    c = x.shape[1]
    axes = tuple(i for i in range(x.ndim) if i != 1)

    def backward(g):
        gx, gw, gb = ops.batch_norm_backward(g, x._data, _arr(w), mean, invstd, bool(training))
        if b is not None and gb is None:
            gb = np.asarray(g, np.float32).sum(axis=axes, dtype=np.float64).astype(np.float32).reshape(c)
        return gx, gw, gb
    return _record("NativeBatchNormBackward0", out, (x, w, b), backward, saved=(x,) + (() if w is None else (w,)))


def dropout(input, p=0.5, training=True, inplace=False) -> Tensor:
    """Zeroes elements with probability p and scales the rest by 1/(1-p) (training only).

    The mask comes from the global generator's (seed, offset) stream: fastcnn.manual_seed
    makes it reproducible.
    """
    if _trace.tracer is not None:
        return _trace.tracer.op("dropout", dropout, input, p, training, inplace)
    x = _t(input, "dropout", "input")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    _flag(training, "dropout", "training")
    if not training or p == 0:
        return x
    seed, offset = default_generator.philox_args(x.numel())
    out, mask = ops.dropout(x._data, p, seed, offset)
    res = _record("NativeDropoutBackward0", out, (x,), lambda g: (ops.dropout_backward(g, mask, p),))
    return _write_back(x, res, "dropout") if inplace else res


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("local_response_norm", local_response_norm, input, size, alpha, beta, k)
    x = _t(input, "local_response_norm", "input")
    out, scale = ops.local_response_norm(x._data, size, alpha, beta, k)
    return _record("LocalResponseNormBackward", out, (x,),
                   lambda g: (ops.local_response_norm_backward(g, x._data, scale, size, alpha, beta, k),),
                   saved=(x,))


# ---- shape helpers ----------------------------------------------------------------------------

def pad(input, pad, mode="constant", value=None) -> Tensor:
    """Constant padding; pad = (last_left, last_right, prev_left, prev_right, ...), as torch."""
    if _trace.tracer is not None:
        return _trace.tracer.op("pad", globals()["pad"], input, pad, mode, value)  # arg shadows fn
    op = "pad"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a fastcnn.Tensor, got {type(input).__name__}")
    if mode != "constant":
        raise ValueError(f"{op}: only mode='constant' is supported, got {mode!r}")
    try:
        n = len(pad)
    except TypeError:
        raise TypeError(f"{op}: pad must be a sequence of ints, got {pad!r}") from None
    if n % 2 or n // 2 > input.ndim:
        raise ValueError(f"{op}: pad {tuple(pad)} must have an even length of at most 2 * ndim "
                         f"({2 * input.ndim}) for input of shape {shape_str(input.shape)}")
    pads = as_tuple(pad, n, op, "pad", minimum=0)
    widths = [(0, 0)] * input.ndim
    for i in range(n // 2):
        widths[input.ndim - 1 - i] = (pads[2 * i], pads[2 * i + 1])
    out = np.pad(input._data, widths, constant_values=0 if value is None else value)
    crop = tuple(slice(lo, lo + s) for (lo, _), s in zip(widths, input.shape))
    return _record("ConstantPadNdBackward0", out, (input,), lambda g: (g[crop],))


def flatten(input, start_dim=0, end_dim=-1) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"flatten: input must be a fastcnn.Tensor, got {type(input).__name__}")
    return input.flatten(start_dim, end_dim)
