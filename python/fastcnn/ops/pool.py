"""Pooling kernels: max, average, sum and adaptive average pooling over NCHW float32.

Names and semantics follow torch.nn.functional (max_pool2d with return_indices=True,
avg_pool2d, adaptive_avg_pool2d); a 3-D (C, H, W) input is pooled as a batch of one.
Each forward has a backward that takes what the forward saved and returns grad_input.
"""

from __future__ import annotations

import numbers

import numpy as np

from fastcnn import backend

from ._args import _F32, as_tuple, float32_array, int64_array, shape_str

__all__ = [
    "pool_output_size",
    "max_pool2d",
    "max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "sum_pool2d",
    "sum_pool2d_backward",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
]


def pool_output_size(size: int, kernel: int, stride: int, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """PyTorch's pooled length: floor((size + 2p - d(k-1) - 1) / s) + 1 (ceil with ceil_mode,
    dropping a last window that would start in the right padding). <= 0 means no output.
    With ceil_mode a window may reach up to stride - 1 past the padded input, as in torch
    (its one window then covers the whole input: size 2, kernel 3, stride 2 gives 1)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1  # floor, also for span < 0
    if out < 1:
        return 0
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _as_batch(x: np.ndarray, op: str, name: str = "input") -> tuple[np.ndarray, bool]:
    """x (float32, 3-D or 4-D) as 4-D, and whether it was 3-D."""
    x = float32_array(x, op, name, ndim=(3, 4))
    if x.ndim == 3:
        return x[None], True
    return x, False


def _check_plane(x4: np.ndarray, op: str, name: str = "input") -> None:
    if x4.shape[1] < 1 or x4.shape[2] < 1 or x4.shape[3] < 1:
        raise ValueError(f"{op}: {name} of shape {shape_str(x4.shape)} has an empty channel or spatial dimension")


def _plain(value) -> bool:
    """An int or a tuple of ints, exactly: such arguments are safe cache keys (True == 1 and
    2.0 == 2 as keys, but those must fail the checks)."""
    if type(value) is int:
        return True
    if type(value) is tuple:
        for v in value:
            if type(v) is not int:
                return False
        return True
    return False


_WINDOWS: dict = {}  # _window_entry's results for plain arguments; at most _WINDOWS_MAX entries
_WINDOWS_MAX = 4096


def _window(op: str, in_hw, kernel_size, stride, padding, dilation, ceil_mode):
    """Normalized (kernel, stride, padding, dilation, out_hw), checked as torch does."""
    return _window_entry(op, in_hw, kernel_size, stride, padding, dilation, ceil_mode)[:5]


def _window_entry(op: str, in_hw, kernel_size, stride, padding, dilation, ceil_mode):
    """_window's tuple plus the window as one _C.PoolWindow.

    A network pools a few shapes over and over: checked results are cached per argument
    tuple (only for plain ints and tuples; errors are never cached)."""
    if (type(kernel_size) is int or _plain(kernel_size)) and (stride is None or _plain(stride)) \
            and (type(padding) is int or _plain(padding)) and (type(dilation) is int or _plain(dilation)) \
            and type(ceil_mode) is bool:
        key = (op, in_hw if type(in_hw) is tuple else tuple(in_hw), kernel_size, stride, padding, dilation, ceil_mode)
        hit = _WINDOWS.get(key)
        if hit is None:
            hit = _check_window(op, in_hw, kernel_size, stride, padding, dilation, ceil_mode)
            if len(_WINDOWS) >= _WINDOWS_MAX:
                _WINDOWS.clear()
            _WINDOWS[key] = hit
        return hit
    return _check_window(op, in_hw, kernel_size, stride, padding, dilation, ceil_mode)


def _check_window(op: str, in_hw, kernel_size, stride, padding, dilation, ceil_mode):
    kernel, stride, padding, dilation, out = _check_window_args(op, in_hw, kernel_size, stride, padding, dilation,
                                                                ceil_mode)
    return kernel, stride, padding, dilation, out, backend._C.PoolWindow(kernel, stride, padding, dilation,
                                                                         bool(ceil_mode))


def _check_window_args(op: str, in_hw, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = as_tuple(kernel_size, 2, op, "kernel_size", minimum=1)
    # torch: stride None or [] means kernel_size.
    empty = isinstance(stride, (tuple, list)) and len(stride) == 0
    stride = kernel if stride is None or empty else as_tuple(stride, 2, op, "stride", minimum=1)
    padding = as_tuple(padding, 2, op, "padding", minimum=0)
    dilation = as_tuple(dilation, 2, op, "dilation", minimum=1)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"{op}: ceil_mode must be a bool, got {ceil_mode!r}")
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be at most half of kernel_size {kernel}")
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(n + 2 * p for n, p in zip(in_hw, padding))
    out = tuple(pool_output_size(n, k, s, p, d, bool(ceil_mode))
                for n, k, s, p, d in zip(in_hw, kernel, stride, padding, dilation))
    if any(o < 1 and e > n for o, e, n in zip(out, extent, padded)):
        spans = "" if dilation == (1, 1) else f" with dilation {dilation} spans {extent}, which"
        raise ValueError(f"{op}: kernel_size {kernel}{spans} is larger than the padded input {padded}")
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: output size {out} is too small for input {tuple(in_hw)}")
    return kernel, stride, padding, dilation, out


def _input_shape(input_shape, op: str, grad_output: np.ndarray) -> tuple[int, int, int, int]:
    """input_shape (3 or 4 ints) checked against grad_output's batch and channels, as 4-D."""
    try:  # the length first: a huge array must not be walked
        length = len(input_shape)
        shape = tuple(int(d) for d in input_shape) if length in (3, 4) else None
    except TypeError:
        raise TypeError(f"{op}: input_shape must be a sequence of ints, got {input_shape!r}") from None
    if shape is None:
        raise ValueError(f"{op}: input_shape must have 3 or 4 entries, got {length}")
    if len(shape) != grad_output.ndim:
        raise ValueError(f"{op}: input_shape {shape_str(shape)} and grad_output {shape_str(grad_output.shape)} "
                         "must have the same number of dimensions")
    if shape[:-2] != grad_output.shape[:-2]:
        raise ValueError(f"{op}: input_shape {shape_str(shape)} and grad_output {shape_str(grad_output.shape)} "
                         "differ in batch or channels")
    if any(d < 0 for d in shape) or any(d < 1 for d in shape[-3:]):
        raise ValueError(f"{op}: input_shape {shape_str(shape)} has an empty channel or spatial dimension")
    return shape if len(shape) == 4 else (1, *shape)


def _check_grad_shape(op: str, grad_output: np.ndarray, expected) -> None:
    if tuple(grad_output.shape[-2:]) != tuple(expected):
        raise ValueError(f"{op}: grad_output {shape_str(grad_output.shape)} must have spatial size "
                         f"{tuple(expected)} for this input_shape and window")


# ---- max pooling ---------------------------------------------------------------------

def max_pool2d(x: np.ndarray, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(out, indices) as torch's max_pool2d(..., return_indices=True): indices (int64) index
    the flattened H*W plane; ties keep the first cell, a NaN in the window wins."""
    op = "max_pool2d"
    flags = x.flags if type(x) is np.ndarray and x.ndim == 4 and x.dtype is _F32 else None
    if flags is not None and flags.c_contiguous and flags.aligned:  # _as_batch's checks, inlined
        x4, squeeze = x, False
    else:
        x4, squeeze = _as_batch(x, op)
    n, c, h, w = x4.shape
    if c < 1 or h < 1 or w < 1:
        _check_plane(x4, op)
    _, _, _, _, (oh, ow), window = _window_entry(op, (h, w), kernel_size, stride, padding, dilation, ceil_mode)
    out = np.empty((n, c, oh, ow), dtype=np.float32)
    indices = np.empty((n, c, oh, ow), dtype=np.int64)
    # One cached window object: pybind11 takes microseconds over keyword arguments and tuples.
    backend._C.max_pool2d_forward_window(x4, out, indices, window)
    return (out[0], indices[0]) if squeeze else (out, indices)


def max_pool2d_backward(grad_output: np.ndarray, indices: np.ndarray, input_shape) -> np.ndarray:
    """grad_input of max_pool2d: grad_output added at indices (overlapping windows accumulate)."""
    op = "max_pool2d_backward"
    grad_output = float32_array(grad_output, op, "grad_output", ndim=(3, 4))
    indices = int64_array(indices, op, "indices", ndim=(3, 4))
    if indices.shape != grad_output.shape:
        raise ValueError(f"{op}: indices {shape_str(indices.shape)} and grad_output "
                         f"{shape_str(grad_output.shape)} must have the same shape")
    shape = _input_shape(input_shape, op, grad_output)
    grad_input = np.empty(shape, dtype=np.float32)
    g4 = grad_output if grad_output.ndim == 4 else grad_output[None]
    i4 = indices if indices.ndim == 4 else indices[None]
    backend._C.max_pool2d_backward(g4, i4, grad_input)
    return grad_input if grad_output.ndim == 4 else grad_input[0]


# ---- average and sum pooling -----------------------------------------------------------

def _avg_args(op, count_include_pad, divisor_override):
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise TypeError(f"{op}: count_include_pad must be a bool, got {count_include_pad!r}")
    if divisor_override is None:
        return 0
    if not isinstance(divisor_override, numbers.Integral) or isinstance(divisor_override, bool):
        raise TypeError(f"{op}: divisor_override must be an int or None, got {divisor_override!r}")
    if divisor_override < 1:
        raise ValueError(f"{op}: divisor_override must be > 0, got {divisor_override}")
    return int(divisor_override)


def avg_pool2d(x: np.ndarray, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> np.ndarray:
    """torch's avg_pool2d: window sum / divisor (padding counted with count_include_pad, never
    cells past the padded input; divisor_override replaces the count)."""
    op = "avg_pool2d"
    x4, squeeze = _as_batch(x, op)
    _check_plane(x4, op)
    divisor = _avg_args(op, count_include_pad, divisor_override)
    kernel, stride, padding, _, (oh, ow) = _window(op, x4.shape[2:], kernel_size, stride, padding, 1, ceil_mode)
    out = np.empty((x4.shape[0], x4.shape[1], oh, ow), dtype=np.float32)
    backend._C.avg_pool2d_forward(x4, out, kernel, stride, padding, bool(ceil_mode), bool(count_include_pad),
                                  divisor)
    return out[0] if squeeze else out


def avg_pool2d_backward(grad_output: np.ndarray, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode: bool = False, count_include_pad: bool = True,
                        divisor_override=None, *, _op: str = "avg_pool2d_backward") -> np.ndarray:
    """grad_input of avg_pool2d with the same parameters."""
    op = _op
    grad_output = float32_array(grad_output, op, "grad_output", ndim=(3, 4))
    shape = _input_shape(input_shape, op, grad_output)
    divisor = _avg_args(op, count_include_pad, divisor_override)
    kernel, stride, padding, _, out_hw = _window(op, shape[2:], kernel_size, stride, padding, 1, ceil_mode)
    _check_grad_shape(op, grad_output, out_hw)
    grad_input = np.empty(shape, dtype=np.float32)
    g4 = grad_output if grad_output.ndim == 4 else grad_output[None]
    backend._C.avg_pool2d_backward(g4, grad_input, kernel, stride, padding, bool(ceil_mode),
                                   bool(count_include_pad), divisor)
    return grad_input if grad_output.ndim == 4 else grad_input[0]


def sum_pool2d(x: np.ndarray, kernel_size, stride=None, padding=0, ceil_mode: bool = False) -> np.ndarray:
    """Window sums (avg_pool2d with divisor_override=1; padding adds nothing)."""
    return avg_pool2d(x, kernel_size, stride, padding, ceil_mode, True, 1)


def sum_pool2d_backward(grad_output: np.ndarray, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode: bool = False) -> np.ndarray:
    """grad_input of sum_pool2d: every window cell receives its output's gradient."""
    return avg_pool2d_backward(grad_output, input_shape, kernel_size, stride, padding, ceil_mode, True, 1,
                               _op="sum_pool2d_backward")


# ---- adaptive average pooling ------------------------------------------------------------

def _output_size(output_size, in_hw, op: str) -> tuple[int, int]:
    """torch's output_size: an int or a pair whose entries may be None (keep the input's)."""
    if type(output_size) is int and output_size >= 1:  # the usual case, without the ABC checks below
        return output_size, output_size
    if isinstance(output_size, numbers.Integral) and not isinstance(output_size, bool):
        size = (int(output_size), int(output_size))
    else:
        try:  # the length first: a huge array must not be copied
            values = tuple(output_size) if len(output_size) == 2 else ()
        except TypeError:
            raise TypeError(f"{op}: output_size must be an int or a pair of ints, got {output_size!r}") from None
        if len(values) != 2 or not all(v is None or (isinstance(v, numbers.Integral) and not isinstance(v, bool))
                                       for v in values):
            raise TypeError(f"{op}: output_size must be an int or a pair of ints, got {output_size!r}")
        size = tuple(int(n) if v is None else int(v) for v, n in zip(values, in_hw))
    if any(s < 1 for s in size):
        raise ValueError(f"{op}: output_size {size} must be >= 1")
    return size


def adaptive_avg_pool2d(x: np.ndarray, output_size) -> np.ndarray:
    """torch's adaptive_avg_pool2d: cell i averages [floor(i*H/OH), ceil((i+1)*H/OH))."""
    op = "adaptive_avg_pool2d"
    x4, squeeze = _as_batch(x, op)
    _check_plane(x4, op)
    oh, ow = _output_size(output_size, x4.shape[2:], op)
    out = np.empty((x4.shape[0], x4.shape[1], oh, ow), dtype=np.float32)
    backend._C.adaptive_avg_pool2d_forward(x4, out)
    return out[0] if squeeze else out


def adaptive_avg_pool2d_backward(grad_output: np.ndarray, input_shape) -> np.ndarray:
    """grad_input of adaptive_avg_pool2d (the output size is grad_output's)."""
    op = "adaptive_avg_pool2d_backward"
    grad_output = float32_array(grad_output, op, "grad_output", ndim=(3, 4))
    shape = _input_shape(input_shape, op, grad_output)
    if grad_output.shape[-1] < 1 or grad_output.shape[-2] < 1:
        raise ValueError(f"{op}: grad_output {shape_str(grad_output.shape)} has an empty spatial dimension")
    grad_input = np.empty(shape, dtype=np.float32)
    g4 = grad_output if grad_output.ndim == 4 else grad_output[None]
    backend._C.adaptive_avg_pool2d_backward(g4, grad_input)
    return grad_input if grad_output.ndim == 4 else grad_input[0]
