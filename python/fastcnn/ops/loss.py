"""loss kernels (see fastcnn.ops): softmax, log_softmax, nll_loss, cross_entropy, mse_loss,
binary_cross_entropy_with_logits, forward and backward, with torch.nn.functional's names
and semantics.

Class losses take input (N, C) or (N, C, d1, ...) and int64 targets (N,) or (N, d1, ...).
Their forward returns ``(loss, saved)``: the loss (a 0-d array, or the target's shape for
reduction="none") and what the backward needs (``total_weight``, the mean's denominator,
and for cross_entropy the log-probabilities). Reductions give the same bits for any
thread count.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..backend import _C
from ._args import empty_float32 as _empty, float32_array, int64_array, shape_str

__all__ = [
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "nll_loss", "nll_loss_backward", "cross_entropy", "cross_entropy_backward",
    "mse_loss", "mse_loss_backward",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_backward",
]



_REDUCTIONS = ("mean", "sum", "none")


def _dim(dim, ndim: int, op: str) -> int:
    if type(dim) is int and -ndim <= dim < ndim:  # the common case, without the ABC checks
        return dim % ndim
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"{op}: dim {dim} is out of range for an input with {ndim} dimensions")
    return int(dim) % ndim


def _reduction(reduction, op: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _int(value, op: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    return int(value)


def _loss_out(reduction: str, shape) -> np.ndarray:
    return np.empty(shape if reduction == "none" else (), dtype=np.float32)


def _grad_output(grad_output, reduction: str, shape, op: str) -> np.ndarray:
    g = float32_array(grad_output, op, "grad_output")
    if reduction == "none":
        if g.shape != tuple(shape):
            raise ValueError(f"{op}: grad_output has shape {shape_str(g.shape)}, expected {shape_str(shape)} "
                             "(reduction='none')")
    elif g.size != 1:
        raise ValueError(f"{op}: grad_output of shape {shape_str(g.shape)} must hold one value "
                         f"(reduction={reduction!r})")
    return g


# ---- softmax / log_softmax -------------------------------------------------------------

def _softmax_input(input, dim, op):
    x = float32_array(input, op, "input")
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have at least 1 dimension, got shape ()")
    return x, _dim(dim, x.ndim, op)


def softmax(input, dim=1) -> np.ndarray:
    """exp(x - max) / sum(exp(x - max)) over ``dim``."""
    x, d = _softmax_input(input, dim, "softmax")
    return _C.softmax_forward(x, _empty(x), d)


def log_softmax(input, dim=1) -> np.ndarray:
    """x - max - log(sum(exp(x - max))) over ``dim``."""
    x, d = _softmax_input(input, dim, "log_softmax")
    return _C.log_softmax_forward(x, _empty(x), d)


def _softmax_grad_args(grad_output, output, dim, op):
    g = float32_array(grad_output, op, "grad_output")
    y = float32_array(output, op, "output")
    if g.shape != y.shape:
        raise ValueError(f"{op}: grad_output has shape {shape_str(g.shape)} but output has shape "
                         f"{shape_str(y.shape)}")
    if g.ndim == 0:
        raise ValueError(f"{op}: grad_output must have at least 1 dimension, got shape ()")
    return g, y, _dim(dim, g.ndim, op)


def softmax_backward(grad_output, output, dim=1) -> np.ndarray:
    """output * (grad_output - sum(grad_output * output, dim)); output = softmax(x, dim)."""
    g, y, d = _softmax_grad_args(grad_output, output, dim, "softmax_backward")
    return _C.softmax_backward(g, y, _empty(g), d)


def log_softmax_backward(grad_output, output, dim=1) -> np.ndarray:
    """grad_output - exp(output) * sum(grad_output, dim); output = log_softmax(x, dim)."""
    g, y, d = _softmax_grad_args(grad_output, output, dim, "log_softmax_backward")
    return _C.log_softmax_backward(g, y, _empty(g), d)


# ---- class-index losses ----------------------------------------------------------------

def _class_args(input, target, weight, ignore_index, reduction, op, input_name="input"):
    x = float32_array(input, op, input_name)
    if x.ndim < 2:
        raise ValueError(f"{op}: {input_name} must have shape (N, C) or (N, C, d1, ...), got {shape_str(x.shape)}")
    t = int64_array(target, op, "target")
    expected = (x.shape[0], *x.shape[2:])
    if t.shape != expected:
        raise ValueError(f"{op}: target has shape {shape_str(t.shape)} but {input_name} of shape "
                         f"{shape_str(x.shape)} needs target of shape {shape_str(expected)}")
    w = None
    if weight is not None:
        w = float32_array(weight, op, "weight")
        if w.shape != (x.shape[1],):
            raise ValueError(f"{op}: weight has shape {shape_str(w.shape)} but {input_name} has "
                             f"{x.shape[1]} classes (expected shape ({x.shape[1]},))")
    ignore_index = _int(ignore_index, op, "ignore_index")
    reduction = _reduction(reduction, op)
    classes = x.shape[1]
    bad = (t != ignore_index) & ((t < 0) | (t >= classes))
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{op}: target value {int(t[position])} at position {position} is out of range "
                         f"[0, {classes}) (ignore_index={ignore_index})")
    return x, t, w, ignore_index, reduction


def _smoothing(label_smoothing, op: str) -> float:
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(f"{op}: label_smoothing must be a float, got {label_smoothing!r}")
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0.0, 1.0], got {label_smoothing!r}")
    return float(label_smoothing)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """-weight[t] * input[n, t, ...] per element, reduced as torch; input holds log-probabilities.

    Returns (loss, total_weight); total_weight is nll_loss_backward's argument.
    """
    x, t, w, ignore_index, reduction = _class_args(input, target, weight, ignore_index, reduction, "nll_loss")
    out = _loss_out(reduction, t.shape)
    total = _C.nll_loss_forward(x, t, w, ignore_index, reduction, out)
    return out, total


def nll_loss_backward(grad_output, input, target, weight=None, ignore_index=-100, reduction="mean",
                      total_weight=None) -> np.ndarray:
    """Gradient of nll_loss with respect to input (only input's shape is used)."""
    op = "nll_loss_backward"
    if not isinstance(input, np.ndarray):
        raise TypeError(f"{op}: input must be a numpy.ndarray, got {type(input).__name__}")
    shape = input.shape
    grad_input = np.empty(shape, dtype=np.float32)
    _, t, w, ignore_index, reduction = _class_args(grad_input, target, weight, ignore_index, reduction, op)
    g = _grad_output(grad_output, reduction, t.shape, op)
    if total_weight is None:
        if reduction == "mean":
            raise ValueError(f"{op}: total_weight (returned by nll_loss) is required for reduction='mean'")
        total_weight = 0.0
    return _C.nll_loss_backward(g, t, w, ignore_index, reduction, float(total_weight), grad_input)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """log_softmax(input, 1) followed by nll_loss with label smoothing, in one kernel, as torch.

    Returns (loss, log_probs, total_weight); log_probs and total_weight feed
    cross_entropy_backward.
    """
    op = "cross_entropy"
    x, t, w, ignore_index, reduction = _class_args(input, target, weight, ignore_index, reduction, op)
    eps = _smoothing(label_smoothing, op)
    out = _loss_out(reduction, t.shape)
    log_probs = np.empty_like(x)
    total = _C.cross_entropy_forward(x, t, w, ignore_index, reduction, eps, out, log_probs)
    return out, log_probs, total


def cross_entropy_backward(grad_output, log_probs, target, weight=None, ignore_index=-100, reduction="mean",
                           label_smoothing=0.0, total_weight=None) -> np.ndarray:
    """Gradient of cross_entropy with respect to its input logits."""
    op = "cross_entropy_backward"
    lp, t, w, ignore_index, reduction = _class_args(log_probs, target, weight, ignore_index, reduction, op,
                                                    input_name="log_probs")
    eps = _smoothing(label_smoothing, op)
    g = _grad_output(grad_output, reduction, t.shape, op)
    if total_weight is None:
        if reduction == "mean":
            raise ValueError(f"{op}: total_weight (returned by cross_entropy) is required for reduction='mean'")
        total_weight = 0.0
    return _C.cross_entropy_backward(g, lp, t, w, ignore_index, reduction, eps, float(total_weight),
                                     np.empty_like(lp))


# ---- elementwise losses ----------------------------------------------------------------

def _same_shape(input, target, op):
    x = float32_array(input, op, "input")
    y = float32_array(target, op, "target")
    if x.shape != y.shape:
        raise ValueError(f"{op}: target has shape {shape_str(y.shape)} but input has shape {shape_str(x.shape)}")
    return x, y


def mse_loss(input, target, reduction="mean") -> np.ndarray:
    """(input - target)**2, reduced ('mean' over all elements, 'sum', or 'none')."""
    x, y = _same_shape(input, target, "mse_loss")
    reduction = _reduction(reduction, "mse_loss")
    return _C.mse_loss_forward(x, y, reduction, _loss_out(reduction, x.shape))


def mse_loss_backward(grad_output, input, target, reduction="mean") -> np.ndarray:
    """Gradient with respect to input (the target's gradient is its negative)."""
    op = "mse_loss_backward"
    x, y = _same_shape(input, target, op)
    reduction = _reduction(reduction, op)
    g = _grad_output(grad_output, reduction, x.shape, op)
    return _C.mse_loss_backward(g, x, y, reduction, np.empty_like(x))


def _broadcast(value, shape, op, name):
    if value is None:
        return None
    v = float32_array(value, op, name)
    try:
        return np.ascontiguousarray(np.broadcast_to(v, shape))
    except ValueError:
        raise ValueError(f"{op}: {name} of shape {shape_str(v.shape)} cannot be broadcast to the input's shape "
                         f"{shape_str(shape)}") from None


def _bce_args(input, target, weight, pos_weight, reduction, op):
    x, y = _same_shape(input, target, op)
    w = _broadcast(weight, x.shape, op, "weight")
    pw = _broadcast(pos_weight, x.shape, op, "pos_weight")
    return x, y, w, pw, _reduction(reduction, op)


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction="mean") -> np.ndarray:
    """weight * ((1 - t) x + (1 + (pos_weight - 1) t) * log(1 + exp(-x))), stably, reduced.

    weight broadcasts to the input; pos_weight too (torch: along the last, class dimension).
    """
    op = "binary_cross_entropy_with_logits"
    x, y, w, pw, reduction = _bce_args(input, target, weight, pos_weight, reduction, op)
    return _C.binary_cross_entropy_with_logits_forward(x, y, w, pw, reduction, _loss_out(reduction, x.shape))


def binary_cross_entropy_with_logits_backward(grad_output, input, target, weight=None, pos_weight=None,
                                              reduction="mean") -> np.ndarray:
    """Gradient with respect to input (logits)."""
    op = "binary_cross_entropy_with_logits_backward"
    x, y, w, pw, reduction = _bce_args(input, target, weight, pos_weight, reduction, op)
    g = _grad_output(grad_output, reduction, x.shape, op)
    return _C.binary_cross_entropy_with_logits_backward(g, x, y, w, pw, reduction, np.empty_like(x))
