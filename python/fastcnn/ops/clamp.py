"""clamp kernels (see fastcnn.ops): torch.clamp's forward and backward, and hardtanh's
backward (ReLU6 is hardtanh(0, 6)), which differs only at the bounds and at NaN."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..backend import _C
from ._args import float32_array, shape_str

__all__ = ["clamp", "clamp_backward", "hardtanh_backward"]


def _bound(value, op: str, name: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number or None, got {value!r}")
    return float(value)


def _bounds(min, max, op: str) -> tuple[float, float]:
    if min is None and max is None:
        raise ValueError(f"{op}: at least one of min and max must not be None")
    return _bound(min, op, "min", -math.inf), _bound(max, op, "max", math.inf)


def clamp(input, min=None, max=None, out=None) -> np.ndarray:
    """min(max(input, min), max), NaN kept, as torch.clamp; out may be input (in place)."""
    x = float32_array(input, "clamp", "input")
    lo, hi = _bounds(min, max, "clamp")
    if out is None:
        out = np.empty_like(x)
    elif not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != x.shape:
        raise ValueError(f"clamp: out must be a float32 array of the input's shape {shape_str(x.shape)}")
    return _C.clamp_forward(x, out, lo, hi)


def _backward(grad_output, input, min, max, op: str, inclusive: bool) -> np.ndarray:
    g = float32_array(grad_output, op, "grad_output")
    x = float32_array(input, op, "input")
    if g.shape != x.shape:
        raise ValueError(f"{op}: grad_output has shape {shape_str(g.shape)} but input has shape {shape_str(x.shape)}")
    lo, hi = _bounds(min, max, op)
    return _C.clamp_backward(g, x, np.empty_like(g), lo, hi, inclusive)


def clamp_backward(grad_output, input, min=None, max=None) -> np.ndarray:
    """grad_output where min <= input <= max, else 0 (NaN inputs get 0), as torch.clamp."""
    return _backward(grad_output, input, min, max, "clamp_backward", True)


def hardtanh_backward(grad_output, input, min_val=-1.0, max_val=1.0) -> np.ndarray:
    """grad_output where min_val < input < max_val (and where input is NaN), else 0, as torch."""
    return _backward(grad_output, input, min_val, max_val, "hardtanh_backward", False)
