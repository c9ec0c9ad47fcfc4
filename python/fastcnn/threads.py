"""Threads and floating-point settings of the CPU kernels."""

from __future__ import annotations

import operator

from .backend import _C


def get_num_threads() -> int:
    """Threads the CPU kernels use."""
    return _C.get_num_threads()


def set_num_threads(n: int) -> None:
    """Use `n` threads in CPU kernels from the next call on (as torch.set_num_threads)."""
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _C.set_num_threads(n)


def set_flush_denormal(mode: bool) -> bool:
    """Flush denormals to zero inside CPU kernels (the default), or not.

    Returns True, as torch.set_flush_denormal does where the CPU supports it. The setting
    applies to fastcnn's kernel threads only; Python's and NumPy's arithmetic is unchanged.
    """
    _C.set_flush_denormal(bool(mode))
    return True


__all__ = ["get_num_threads", "set_flush_denormal", "set_num_threads"]
