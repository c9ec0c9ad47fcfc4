"""activation kernels (see fastcnn.ops): relu, leaky_relu, tanh, sigmoid and their backward.

Forward functions take an optional ``out=``: an array of the input's shape, which may be
the input itself (in place, as torch's ``relu_``). Backward functions take what the
forward saved: relu the input or the output, leaky_relu the input, tanh and sigmoid the
output, and return the gradient with respect to the input.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..backend import _C
from ._args import empty_float32 as _empty, float32_array, shape_str

__all__ = [
    "relu", "relu_backward", "leaky_relu", "leaky_relu_backward",
    "tanh", "tanh_backward", "sigmoid", "sigmoid_backward",
]




def _out(out, x: np.ndarray, op: str) -> np.ndarray:
    if out is None:
        return _empty(x)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{op}: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != np.float32:
        raise TypeError(f"{op}: out has dtype {out.dtype}, expected float32")
    if out.shape != x.shape:
        raise ValueError(f"{op}: out has shape {shape_str(out.shape)} but input has shape {shape_str(x.shape)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{op}: out of shape {shape_str(out.shape)} must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{op}: out is read-only")
    return out


def _slope(value, op: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: negative_slope must be a real number, got {value!r}")
    return float(value)


def _pair(grad_output, saved, op: str, saved_name: str):
    g = float32_array(grad_output, op, "grad_output")
    s = float32_array(saved, op, saved_name)
    if g.shape != s.shape:
        raise ValueError(f"{op}: grad_output has shape {shape_str(g.shape)} but {saved_name} has shape "
                         f"{shape_str(s.shape)}")
    return g, s


def relu(input, out=None) -> np.ndarray:
    """max(input, 0), NaN passing through, as torch.relu; ``out`` may be ``input``."""
    x = float32_array(input, "relu", "input")
    return _C.relu_forward(x, _out(out, x, "relu"))


def relu_backward(grad_output, saved) -> np.ndarray:
    """grad_output where saved > 0 else 0; saved is relu's input or its output."""
    g, s = _pair(grad_output, saved, "relu_backward", "saved")
    return _C.relu_backward(g, s, _empty(g))


def leaky_relu(input, negative_slope=0.01, out=None) -> np.ndarray:
    """input where input > 0 else negative_slope * input; ``out`` may be ``input``."""
    x = float32_array(input, "leaky_relu", "input")
    slope = _slope(negative_slope, "leaky_relu")
    return _C.leaky_relu_forward(x, _out(out, x, "leaky_relu"), slope)


def leaky_relu_backward(grad_output, input, negative_slope=0.01) -> np.ndarray:
    """grad_output * (1 if input > 0 else negative_slope), as torch."""
    g, x = _pair(grad_output, input, "leaky_relu_backward", "input")
    slope = _slope(negative_slope, "leaky_relu_backward")
    return _C.leaky_relu_backward(g, x, _empty(g), slope)


def tanh(input, out=None) -> np.ndarray:
    """tanh(input); ``out`` may be ``input``."""
    x = float32_array(input, "tanh", "input")
    return _C.tanh_forward(x, _out(out, x, "tanh"))


def tanh_backward(grad_output, output) -> np.ndarray:
    """grad_output * (1 - output**2), output = tanh(input)."""
    g, y = _pair(grad_output, output, "tanh_backward", "output")
    return _C.tanh_backward(g, y, _empty(g))


def sigmoid(input, out=None) -> np.ndarray:
    """1 / (1 + exp(-input)); ``out`` may be ``input``."""
    x = float32_array(input, "sigmoid", "input")
    return _C.sigmoid_forward(x, _out(out, x, "sigmoid"))


def sigmoid_backward(grad_output, output) -> np.ndarray:
    """grad_output * (1 - output) * output, output = sigmoid(input)."""
    g, y = _pair(grad_output, output, "sigmoid_backward", "output")
    return _C.sigmoid_backward(g, y, _empty(g))
