"""Normalization and dropout kernels: batch norm, local response norm, dropout masks.

Semantics follow ``torch.nn.functional`` (batch_norm, local_response_norm, dropout).
Forward functions return what their backward needs (batch norm: save_mean and
save_invstd; LRN: the scale; dropout: the mask).
"""

from __future__ import annotations

import numbers

import numpy as np

from ..backend import _C
from ._args import float32_array, shape_str

__all__ = [
    "batch_norm",
    "batch_norm_backward",
    "local_response_norm",
    "local_response_norm_backward",
    "bernoulli_mask",
    "dropout",
    "dropout_backward",
]

_U64 = 1 << 64


def _real(value, op: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{op}: {name} must be finite, got {value!r}")
    return value


def _int(value, op: str, name: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{op}: {name} must be >= {minimum}{upper}, got {value}")
    return value


def _probability(p, op: str) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{op}: p must be a real number, got {p!r}")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability p has to be between 0 and 1, but got {p}")
    return p


def _channel_vector(v, op: str, name: str, channels: int, x_shape, optional: bool = True):
    if v is None:
        if optional:
            return None
        raise ValueError(f"{op}: {name} is required")
    v = float32_array(v, op, name)
    if v.shape != (channels,):
        raise ValueError(f"{op}: {name} has shape {shape_str(v.shape)} but input of shape {shape_str(x_shape)} "
                         f"has {channels} channels (expected shape ({channels},))")
    return v


def _input(x, op: str, name: str, min_ndim: int) -> np.ndarray:
    x = float32_array(x, op, name)
    if x.ndim < min_ndim:
        raise ValueError(f"{op}: {name} must have at least {min_ndim} dimensions (N, C, ...), "
                         f"got shape {shape_str(x.shape)}")
    if x.shape[1] == 0:
        raise ValueError(f"{op}: {name} of shape {shape_str(x.shape)} has no channels")
    return x


def _same_shape(a: np.ndarray, x: np.ndarray, op: str, name: str, x_name: str = "input") -> None:
    if a.shape != x.shape:
        raise ValueError(f"{op}: {name} has shape {shape_str(a.shape)} but {x_name} has shape {shape_str(x.shape)}")


# ---- batch norm ------------------------------------------------------------------------

def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalization of x (N, C), (N, C, L) or (N, C, H, W), as torch.nn.functional.batch_norm.

    Returns ``(out, save_mean, save_invstd)``: the mean and 1/sqrt(var + eps) used (batch
    statistics in training, running statistics in eval), which batch_norm_backward takes.
    In training, running_mean / running_var (float32 (C,) arrays, or None) are updated in
    place with the unbiased batch variance.
    """
    op = "batch_norm"
    x = _input(x, op, "input", 2)
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"{op}: training must be a bool, got {training!r}")
    momentum = _real(momentum, op, "momentum")
    eps = _real(eps, op, "eps")
    if eps < 0:
        raise ValueError(f"{op}: eps must be >= 0, got {eps}")
    c = x.shape[1]
    stats = []
    for name, v in (("running_mean", running_mean), ("running_var", running_var)):
        if v is not None:
            if not isinstance(v, np.ndarray):
                raise TypeError(f"{op}: {name} must be a numpy.ndarray or None, got {type(v).__name__}")
            if not v.flags.c_contiguous or not v.flags.writeable:
                raise ValueError(f"{op}: {name} must be a writable C-contiguous array (it is updated in place)")
        stats.append(_channel_vector(v, op, name, c, x.shape))
    running_mean, running_var = stats
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: running_mean and running_var must both be arrays or both be None")
    if not training and running_mean is None:
        raise ValueError(f"{op}: running_mean and running_var must be defined in evaluation mode")
    weight = _channel_vector(weight, op, "weight", c, x.shape)
    bias = _channel_vector(bias, op, "bias", c, x.shape)
    count = x.size // c
    if training and count <= 1:
        raise ValueError(f"{op}: Expected more than 1 value per channel when training, got input size "
                         f"{shape_str(x.shape)}")
    out = np.empty_like(x)
    save_mean = np.empty(c, dtype=np.float32)
    save_invstd = np.empty(c, dtype=np.float32)
    _C.batch_norm_forward(x, out, running_mean, running_var, weight, bias, save_mean, save_invstd,
                          training=bool(training), momentum=momentum, eps=eps)
    return out, save_mean, save_invstd


def batch_norm_backward(grad_out, x, weight, save_mean, save_invstd, training):
    """Gradients of batch_norm: ``(grad_input, grad_weight, grad_bias)``.

    grad_weight and grad_bias are None when weight is None. training=True differentiates
    through the batch statistics; False treats them as constants (eval mode).
    """
    op = "batch_norm_backward"
    x = _input(x, op, "input", 2)
    grad_out = float32_array(grad_out, op, "grad_output")
    _same_shape(grad_out, x, op, "grad_output")
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"{op}: training must be a bool, got {training!r}")
    c = x.shape[1]
    weight = _channel_vector(weight, op, "weight", c, x.shape)
    save_mean = _channel_vector(save_mean, op, "save_mean", c, x.shape, optional=False)
    save_invstd = _channel_vector(save_invstd, op, "save_invstd", c, x.shape, optional=False)
    grad_input = np.empty_like(x)
    grad_weight = grad_bias = None
    if weight is not None:
        grad_weight = np.empty(c, dtype=np.float32)
        grad_bias = np.empty(c, dtype=np.float32)
    _C.batch_norm_backward(grad_out, x, weight, save_mean, save_invstd, grad_input, grad_weight, grad_bias,
                           training=bool(training))
    return grad_input, grad_weight, grad_bias


# ---- local response norm ---------------------------------------------------------------

def _lrn_args(size, alpha, beta, k, op):
    size = _int(size, op, "size", 1)
    alpha = _real(alpha, op, "alpha")
    beta = _real(beta, op, "beta")
    k = _real(k, op, "k")
    return size, alpha, beta, k


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response norm across channels, as torch.nn.functional.local_response_norm.

    x is (N, C, *) with at least 3 dimensions. Returns ``(out, scale)`` with
    scale = k + alpha / size * (windowed sum of x^2), out = x * scale^-beta.
    """
    op = "local_response_norm"
    x = _input(x, op, "input", 3)
    size, alpha, beta, k = _lrn_args(size, alpha, beta, k, op)
    out = np.empty_like(x)
    scale = np.empty_like(x)
    _C.local_response_norm_forward(x, out, scale, size=size, alpha=alpha, beta=beta, k=k)
    return out, scale


def local_response_norm_backward(grad_out, x, scale, size, alpha=1e-4, beta=0.75, k=1.0):
    """Gradient of local_response_norm with respect to x, given the forward's scale."""
    op = "local_response_norm_backward"
    x = _input(x, op, "input", 3)
    grad_out = float32_array(grad_out, op, "grad_output")
    scale = float32_array(scale, op, "scale")
    _same_shape(grad_out, x, op, "grad_output")
    _same_shape(scale, x, op, "scale")
    size, alpha, beta, k = _lrn_args(size, alpha, beta, k, op)
    grad_input = np.empty_like(x)
    _C.local_response_norm_backward(grad_out, x, scale, grad_input, size=size, alpha=alpha, beta=beta, k=k)
    return grad_input


# ---- dropout ---------------------------------------------------------------------------

def bernoulli_mask(shape, p, seed, offset=0):
    """uint8 array of `shape`, each element 1 with probability 1 - p.

    Element i (flat, C order) depends only on (seed, offset + i): reproducible, independent
    of the thread count, and ``offset += mask.size`` continues the same stream.
    """
    op = "bernoulli_mask"
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(_int(d, op, "shape", 0) for d in shape)
    except TypeError:
        raise TypeError(f"{op}: shape must be an int or a sequence of ints, got {shape!r}") from None
    p = _probability(p, op)
    seed = _int(seed, op, "seed", 0, _U64 - 1)
    offset = _int(offset, op, "offset", 0, _U64 - 1)
    mask = np.empty(shape, dtype=np.uint8)
    _C.bernoulli_mask(mask, p=p, seed=seed, offset=offset)
    return mask


def dropout(x, p, seed, offset=0):
    """Dropout as torch.nn.functional.dropout in training: ``(out, mask)``.

    out = x * mask / (1 - p) with mask = bernoulli_mask(x.shape, p, seed, offset);
    p = 0 returns x's values, p = 1 zeros.
    """
    op = "dropout"
    x = float32_array(x, op, "input")
    p = _probability(p, op)
    seed = _int(seed, op, "seed", 0, _U64 - 1)
    offset = _int(offset, op, "offset", 0, _U64 - 1)
    mask = np.empty(x.shape, dtype=np.uint8)
    _C.bernoulli_mask(mask, p=p, seed=seed, offset=offset)
    out = np.empty_like(x)
    _C.dropout_forward(x, mask, out, p=p)
    return out, mask


def dropout_backward(grad_out, mask, p):
    """Gradient of dropout: grad_out * mask / (1 - p)."""
    op = "dropout_backward"
    grad_out = float32_array(grad_out, op, "grad_output")
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"{op}: mask must be a numpy.ndarray, got {type(mask).__name__}")
    if mask.dtype != np.uint8:
        raise TypeError(f"{op}: mask has dtype {mask.dtype}, expected uint8")
    mask = np.ascontiguousarray(mask)
    _same_shape(mask, grad_out, op, "mask", "grad_output")
    p = _probability(p, op)
    grad_input = np.empty_like(grad_out)
    _C.dropout_backward(grad_out, mask, grad_input, p=p)
    return grad_input
