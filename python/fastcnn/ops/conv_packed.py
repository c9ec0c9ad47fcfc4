"""Pre-packed convolution weights, for inference: pack a layer's weights once, then run many
forward passes without repacking them (issue 6).

conv2d_prepack(weight, ...) returns a `Conv2dPacked`: the weights in the form one algorithm
consumes (im2col and gemm1x1: each group's weights as the GEMM's packed A panels;
winograd: the transformed filters, packed likewise; depthwise, direct and direct_pixels: a copy).
conv2d_packed(input, packed) then equals conv2d(input, weight, algorithm=packed.algorithm)
bit for bit on the same kernel path. The object is a snapshot: later changes to `weight`
do not reach it.

Which algorithm is fastest depends on the input shape (Winograd pays only with enough output
tiles), so algorithm="auto" needs input_shape= to be resolved, by conv2d_packed_algorithm: the
conv2d_algorithm heuristic, but taking Winograd from fewer tiles (16, not 32-128), since packed
weights no longer pay its filter transform on every call.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ._args import float32_array
from .conv import _ACTIVATIONS, _algorithm, _geometry, _output_shape, _shape_args

__all__ = ["Conv2dPacked", "conv2d_packed", "conv2d_packed_algorithm", "conv2d_prepack"]

Conv2dPacked = backend._C.Conv2dPacked


def conv2d_packed_algorithm(input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1) -> str:
    """The algorithm "auto" packs for, for inputs of this shape (see the module docstring)."""
    input_shape, weight_shape = _shape_args("conv2d_packed_algorithm", input_shape, weight_shape)
    g = _geometry("conv2d_packed_algorithm", input_shape, weight_shape, stride, padding, dilation, groups)
    return backend._C.conv2d_choose_packed_algorithm(list(input_shape), list(weight_shape), **g)


def conv2d_prepack(weight, stride=1, padding=0, dilation=1, groups=1, *, algorithm=None,
                   input_shape=None) -> Conv2dPacked:
    """weight (K, C/groups, R, S) packed for `algorithm` and this stride/padding/dilation/groups.

    algorithm: a name from CONV_ALGORITHMS; None means the one force_conv_algorithm set, else
    "auto": conv2d_packed_algorithm's choice for an input of `input_shape` (N, C, H, W).
    """
    op = "conv2d_prepack"
    w = float32_array(weight, op, "weight", 4)
    g = _geometry(op, None, w.shape, stride, padding, dilation, groups)
    name = _algorithm(op, algorithm)
    if name == "auto":
        if input_shape is None:
            raise ValueError(f"{op}: algorithm 'auto' depends on the input shape; pass input_shape=(N, C, H, W) "
                             "or name an algorithm")
        shape = tuple(input_shape) if hasattr(input_shape, "__len__") and len(input_shape) == 4 else ()
        if len(shape) != 4 or not all(isinstance(d, numbers.Integral) and d >= 0 for d in shape):
            raise ValueError(f"{op}: input_shape must be 4 ints >= 0 (N, C, H, W), got {input_shape!r}")
        _output_shape(op, shape, w.shape, g)  # a mismatched input is named here, not as a kernel error
        name = backend._C.conv2d_choose_packed_algorithm(list(shape), list(w.shape), **g)
    return backend._C.conv2d_prepack(w, algorithm=name, **g)


def conv2d_packed(input, packed, bias=None, *, activation=None) -> np.ndarray:
    """relu?(conv2d(input, weight) + bias) with the weights `packed` holds (conv2d_prepack).

    input (N, C, H, W) float32 with the channels the weights were packed for; bias (K,) or None.
    """
    op = "conv2d_packed"
    if not isinstance(packed, Conv2dPacked):
        raise TypeError(f"{op}: packed must be a Conv2dPacked (from conv2d_prepack), got {type(packed).__name__}")
    x = float32_array(input, op, "input", 4)
    b = None if bias is None else float32_array(bias, op, "bias", 1)
    if activation not in _ACTIVATIONS:
        raise ValueError(f"{op}: activation must be None or 'relu', got {activation!r}")
    return backend._C.conv2d_forward_packed(x, packed, b, relu=activation == "relu")
