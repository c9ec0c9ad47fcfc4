"""Convolution kernels: conv2d and conv1d, forward and backward (PyTorch's semantics).

Several algorithms compute each convolution (see csrc/cpu/conv*.cpp): "gemm1x1" (a 1x1
kernel, stride 1, no padding, as one GEMM), "im2col" (any shape, unfolded block by block),
"depthwise" (groups == in_channels == out_channels, direct loops), "winograd"
(F(2x2, 3x3), forward and both gradients) and "direct" (output channels in vector
lanes, for few output channels; forward and weight gradient). Backward passes use
im2col where the algorithm has none of its own. "auto" lets `conv2d_algorithm` choose per shape; pass
``algorithm=`` or use ``with force_conv_algorithm(name):`` to pick one for testing.
"""

from __future__ import annotations

import contextlib
import math
import threading

import numpy as np

from .. import backend
from ._args import as_tuple, float32_array, shape_str, shape_tuple

__all__ = [
    "CONV_ALGORITHMS",
    "conv1d",
    "conv1d_backward",
    "conv2d",
    "conv2d_algorithm",
    "conv2d_backward",
    "conv2d_output_shape",
    "force_conv_algorithm",
]

CONV_ALGORITHMS = ("auto", "gemm1x1", "im2col", "depthwise", "winograd", "direct", "direct_pixels")
_ACTIVATIONS = (None, "relu")

class _Forced(threading.local):
    name = None  # a class default: no getattr fallback on every convolution


_forced = _Forced()


@contextlib.contextmanager
def force_conv_algorithm(name: str):
    """Every convolution in this thread, inside the block, uses algorithm `name`."""
    _check_algorithm("force_conv_algorithm", name)
    previous = _forced.name
    _forced.name = name
    try:
        yield
    finally:
        _forced.name = previous


def _check_algorithm(op: str, name) -> str:
    if name not in CONV_ALGORITHMS:
        raise ValueError(f"{op}: algorithm must be one of {', '.join(CONV_ALGORITHMS)}; got {name!r}")
    return name


def _algorithm(op: str, name) -> str:
    if name is None:
        name = _forced.name or "auto"
    return _check_algorithm(op, name)


def _padding(op: str, padding, kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from an int, a pair, "valid" or "same"."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]  # the extra one at the end, as PyTorch
            return tuple(pads)
        raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same'; got {padding!r}")
    ph, pw = as_tuple(padding, 2, op, "padding", minimum=0)
    return (ph, ph, pw, pw)


def _plain(value) -> bool:
    """An int, a str or a tuple of ints, exactly: safe cache keys (True == 1 and 2.0 == 2 as
    keys, but those must fail the checks)."""
    t = type(value)
    if t is int or t is str:
        return True
    if t is tuple:
        for v in value:
            if type(v) is not int:
                return False
        return True
    return False


_CONVS: dict = {}  # (geometry, output shape) per plain argument tuple; at most _CONVS_MAX entries
_CONVS_MAX = 4096


def _checked(op: str, input_shape, weight_shape, stride, padding, dilation, groups):
    """(_geometry's dict, output shape), both checked; cached, as a network repeats its shapes.

    The dict is shared by every hit: callers only read it."""
    if _plain(stride) and _plain(padding) and _plain(dilation) and type(groups) is int:
        key = (op, input_shape, weight_shape, stride, padding, dilation, groups)
        hit = _CONVS.get(key)
        if hit is None:
            g = _geometry(op, input_shape, weight_shape, stride, padding, dilation, groups)
            hit = (g, _output_shape(op, input_shape, weight_shape, g))
            if len(_CONVS) >= _CONVS_MAX:
                _CONVS.clear()
            _CONVS[key] = hit
        return hit
    g = _geometry(op, input_shape, weight_shape, stride, padding, dilation, groups)
    return g, _output_shape(op, input_shape, weight_shape, g)


def _geometry(op: str, input_shape, weight_shape, stride, padding, dilation, groups):
    stride = as_tuple(stride, 2, op, "stride", minimum=1)
    dilation = as_tuple(dilation, 2, op, "dilation", minimum=1)
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be an int >= 1, got {groups!r}")
    pads = _padding(op, padding, tuple(weight_shape[2:]), stride, dilation)
    return dict(stride=stride, padding=pads, dilation=dilation, groups=int(groups))


def _shape_args(op: str, input_shape, weight_shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shapes a shape-level function (no arrays) is given, checked."""
    return shape_tuple(input_shape, 4, op, "input_shape"), shape_tuple(weight_shape, 4, op, "weight_shape")


def conv2d_output_shape(input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1) -> tuple[int, ...]:
    """(N, K, OH, OW) with OH = floor((H + pad_top + pad_bottom - dilation*(R-1) - 1) / stride) + 1."""
    input_shape, weight_shape = _shape_args("conv2d_output_shape", input_shape, weight_shape)
    g = _geometry("conv2d", input_shape, weight_shape, stride, padding, dilation, groups)
    return _output_shape("conv2d", input_shape, weight_shape, g)


def conv2d_algorithm(input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1) -> str:
    """The algorithm "auto" uses for this convolution (the heuristic, made visible)."""
    input_shape, weight_shape = _shape_args("conv2d_algorithm", input_shape, weight_shape)
    g = _geometry("conv2d", input_shape, weight_shape, stride, padding, dilation, groups)
    return backend._C.conv2d_choose_algorithm(list(input_shape), list(weight_shape), **g)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, activation=None,
           algorithm=None) -> np.ndarray:
    """y = conv2d(input, weight) + bias, as torch.nn.functional.conv2d.

    input (N, C, H, W) float32, weight (K, C/groups, R, S), bias (K,) or None.
    activation="relu" applies ReLU in the same pass (the GEMM epilogue).
    """
    op = "conv2d"
    x = float32_array(input, op, "input", 4)
    w = float32_array(weight, op, "weight", 4)
    b = None if bias is None else float32_array(bias, op, "bias", 1)
    if activation not in _ACTIVATIONS:
        raise ValueError(f"{op}: activation must be None or 'relu', got {activation!r}")
    g, out_shape = _checked(op, x.shape, w.shape, stride, padding, dilation, groups)
    out = np.empty(out_shape, dtype=np.float32)
    # Positional: pybind11 spends about a microsecond on each keyword argument.
    return backend._C.conv2d_forward(x, w, b, out, g["stride"], g["padding"], g["dilation"], g["groups"],
                                     activation == "relu", _algorithm(op, algorithm))


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    output_mask=(True, True, True), activation=None, output=None, algorithm=None):
    """(grad_input, grad_weight, grad_bias) of conv2d; entries not asked for in output_mask are None.

    For a forward pass with activation="relu", pass activation="relu" and its `output`:
    the gradient is masked where the output was clipped.
    """
    op = "conv2d_backward"
    gy = float32_array(grad_output, op, "grad_output", 4)
    x = float32_array(input, op, "input", 4)
    w = float32_array(weight, op, "weight", 4)
    if activation not in _ACTIVATIONS:
        raise ValueError(f"{op}: activation must be None or 'relu', got {activation!r}")
    g, expected = _checked(op, x.shape, w.shape, stride, padding, dilation, groups)
    if gy.shape != expected:
        raise ValueError(f"{op}: grad_output has shape {shape_str(gy.shape)}, expected {shape_str(expected)} "
                         f"(input {shape_str(x.shape)}, weight {shape_str(w.shape)})")
    if activation == "relu":
        if output is None:
            raise ValueError(f"{op}: activation='relu' needs the forward output")
        y = float32_array(output, op, "output", 4)
        if y.shape != gy.shape:
            raise ValueError(f"{op}: output has shape {shape_str(y.shape)}, expected {shape_str(gy.shape)}")
        gy = np.where(y > 0, gy, np.float32(0))
    need_input, need_weight, need_bias = output_mask
    name = _algorithm(op, algorithm)
    grad_input = grad_weight = grad_bias = None
    geometry = (g["stride"], g["padding"], g["dilation"], g["groups"], name)
    if need_input:
        grad_input = backend._C.conv2d_backward_data(gy, w, np.empty(x.shape, np.float32), *geometry)
    if need_weight:
        grad_weight = np.empty(w.shape, np.float32)
        grad_bias = np.empty(w.shape[0], dtype=np.float32) if need_bias else None
        backend._C.conv2d_backward_weight(x, gy, grad_weight, grad_bias, *geometry)
    elif need_bias:
        grad_bias = gy.sum(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)
    return grad_input, grad_weight, grad_bias


def _output_shape(op, input_shape, weight_shape, g) -> tuple[int, ...]:
    (sh, sw), (pt, pb, pl, pr), (dh, dw) = g["stride"], g["padding"], g["dilation"]
    n, c, h, w = input_shape
    k, cg, r, s = weight_shape
    if c != cg * g["groups"]:
        raise ValueError(f"{op}: input of shape {shape_str(input_shape)} has {c} channels but weight of shape "
                         f"{shape_str(weight_shape)} expects {cg * g['groups']} (groups={g['groups']})")
    if k % g["groups"]:
        raise ValueError(f"{op}: groups={g['groups']} must divide out_channels={k} (weight {shape_str(weight_shape)})")
    span_h, span_w = dh * (r - 1) + 1, dw * (s - 1) + 1
    if r < 1 or s < 1 or span_h > h + pt + pb or span_w > w + pl + pr:
        raise ValueError(f"{op}: kernel {r}x{s} (dilated {span_h}x{span_w}) is larger than the padded input "
                         f"{h + pt + pb}x{w + pl + pr} (input {shape_str(input_shape)}, padding {g['padding']})")
    out = (n, k, (h + pt + pb - span_h) // sh + 1, (w + pl + pr - span_w) // sw + 1)
    if math.prod(out) * 4 > np.iinfo(np.intp).max:  # else NumPy's "array is too big", naming nothing
        raise ValueError(f"{op}: the output {shape_str(out)} is larger than any array can be "
                         f"(input {shape_str(input_shape)}, padding {g['padding']}, stride {g['stride']})")
    return out


# ---- conv1d: conv2d on a height of 1 (views, no copies) ----------------------------

def _as_2d_args(op, x, w, stride, padding, dilation):
    x = float32_array(x, op, "input", 3)
    w = float32_array(w, op, "weight", 3)
    stride = (1, as_tuple(stride, 1, op, "stride", minimum=1)[0])
    dilation = (1, as_tuple(dilation, 1, op, "dilation", minimum=1)[0])
    if not isinstance(padding, str):
        padding = (0, as_tuple(padding, 1, op, "padding", minimum=0)[0])
    return x[:, :, None, :], w[:, :, None, :], stride, padding, dilation


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, activation=None,
           algorithm=None) -> np.ndarray:
    """As torch.nn.functional.conv1d: input (N, C, L), weight (K, C/groups, R)."""
    x, w, stride, padding, dilation = _as_2d_args("conv1d", input, weight, stride, padding, dilation)
    y = conv2d(x, w, bias, stride, padding, dilation, groups, activation=activation, algorithm=algorithm)
    return y[:, :, 0, :]


def conv1d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    output_mask=(True, True, True), activation=None, output=None, algorithm=None):
    """(grad_input, grad_weight, grad_bias) of conv1d."""
    x, w, stride, padding, dilation = _as_2d_args("conv1d_backward", input, weight, stride, padding, dilation)
    gy = float32_array(grad_output, "conv1d_backward", "grad_output", 3)[:, :, None, :]
    y = None if output is None else float32_array(output, "conv1d_backward", "output", 3)[:, :, None, :]
    gx, gw, gb = conv2d_backward(gy, x, w, stride, padding, dilation, groups, output_mask=output_mask,
                                 activation=activation, output=y, algorithm=algorithm)
    return (None if gx is None else gx[:, :, 0, :], None if gw is None else gw[:, :, 0, :], gb)
