"""Argument normalization and checks shared by the kernel API (fastcnn.ops)."""

from __future__ import annotations

import numbers

import numpy as np

_F32 = np.dtype(np.float32)
_I64 = np.dtype(np.int64)


def shape_str(shape) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + (",)" if len(shape) == 1 else ")")


def as_tuple(value, n: int, op: str, name: str, minimum: int = 0) -> tuple[int, ...]:
    """An int or a sequence of n ints, each >= minimum, as a tuple of n ints."""
    if type(value) is int and value >= minimum:  # the common case, without the ABC checks
        return (value,) * n
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            length = len(value)  # before tuple(): a huge array (a broadcast view, say) must not be copied
        except TypeError:
            raise TypeError(f"{op}: {name} must be an int or a sequence of {n} ints, got {value!r}") from None
        values = tuple(value) if length == n else ()
        if len(values) != n or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                       for v in values):
            raise TypeError(f"{op}: {name} must be an int or a sequence of {n} ints, got {value!r}")
        values = tuple(int(v) for v in values)
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return values


def shape_tuple(value, ndim: int, op: str, name: str) -> tuple[int, ...]:
    """A shape given as a sequence of ndim ints >= 0 (such as array.shape), as a tuple of ints."""
    if isinstance(value, np.ndarray):  # an easy slip: the array itself instead of its .shape
        raise TypeError(f"{op}: {name} must be a shape (a sequence of {ndim} ints, such as x.shape), "
                        f"got an array of shape {shape_str(value.shape)}")
    try:
        length = len(value)  # before tuple(): a huge sequence must not be walked
    except TypeError:
        raise TypeError(f"{op}: {name} must be a sequence of {ndim} ints, got {value!r}") from None
    values = tuple(value) if length == ndim else ()
    if len(values) != ndim or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{op}: {name} must be a sequence of {ndim} ints, got {value!r}")
    if any(v < 0 for v in values):
        raise ValueError(f"{op}: {name} {shape_str(values)} has a negative size")
    return tuple(int(v) for v in values)


def float32_array(x, op: str, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """x as a C-contiguous float32 ndarray (no copy when it already is one)."""
    if type(x) is np.ndarray and x.dtype is _F32 and (ndim is None or x.ndim == ndim or type(ndim) is tuple
                                                      and x.ndim in ndim):
        flags = x.flags  # the common case, checked in one go
        if flags.c_contiguous and flags.aligned:
            return x
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise TypeError(f"{op}: {name} has dtype {x.dtype}, expected float32")
    _check_ndim(x, op, name, ndim)
    return _contiguous(x)


def empty_float32(like: np.ndarray) -> np.ndarray:
    """A new C-contiguous float32 array of like's shape (np.empty_like, minus its dtype and
    layout logic: the kernels' outputs are always C-contiguous float32)."""
    return np.empty(like.shape, dtype=_F32)


def int64_array(x, op: str, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """x as a C-contiguous int64 ndarray (no copy when it already is one)."""
    if type(x) is np.ndarray and x.dtype is _I64 and (ndim is None or x.ndim == ndim or type(ndim) is tuple
                                                      and x.ndim in ndim):
        flags = x.flags
        if flags.c_contiguous and flags.aligned:
            return x
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype != np.int64:
        raise TypeError(f"{op}: {name} has dtype {x.dtype}, expected int64")
    _check_ndim(x, op, name, ndim)
    return _contiguous(x)


def _contiguous(x: np.ndarray) -> np.ndarray:
    """x, or a copy that is C-contiguous and aligned (the kernels need both).

    Not np.ascontiguousarray: it turns a 0-d array into a 1-d one, and keeps misalignment.
    """
    return x if x.flags.c_contiguous and x.flags.aligned else np.require(x, requirements="CA")


def _check_ndim(x: np.ndarray, op: str, name: str, ndim) -> None:
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        wanted = " or ".join(str(d) for d in allowed)
        raise ValueError(f"{op}: {name} must have {wanted} dimensions, got shape {shape_str(x.shape)}")
