"""Argument helpers shared by the layer constructors (torch's _single/_pair, checks)."""

from __future__ import annotations

import numbers


def ntuple(value, n: int, layer: str, name: str) -> tuple[int, ...]:
    """An int or a sequence of n ints as an n-tuple (torch's _single/_pair), checked."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (int(value),) * n
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{layer}: {name} must be an int or a tuple of {n} ints, got {value!r}") from None
    if len(items) != n or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{layer}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return tuple(int(v) for v in items)


def positive_int(value, layer: str, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{layer}: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{layer}: {name} must be at least {minimum}, got {value}")
    return int(value)


def real(value, layer: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{layer}: {name} must be a real number, got {value!r}")
    return value


def check_device_dtype(layer: str, device, dtype) -> None:
    if device is not None and str(device) != "cpu":
        raise ValueError(f"{layer}: only the 'cpu' device is supported, got {device!r}")
    if dtype is not None:
        import numpy as np
        if np.dtype(dtype) != np.float32:
            raise TypeError(f"{layer}: only float32 parameters are supported, got dtype {dtype!r}")
