"""Deterministic mode: training repeatable bit for bit, whatever the thread count.

Most CPU kernels are deterministic at all times: threads split outputs, never a sum
(GEMM splits C, never K; pooling, depthwise and bias gradients own whole planes or
channels; losses and batch norm sum fixed chunks in a fixed order; dropout masks come from
a counter-based generator keyed by the element index), and the convolution algorithm is
chosen from the shape alone. The one kernel that sums per-thread partial results for speed,
the im2col/1x1 convolution's weight gradient, cuts its work into a fixed number of parts
(from the shape, not the thread count) while the mode is on. NumPy's reductions on the
Python side are deterministic. CUDA kernels are not covered by this mode.
"""

from __future__ import annotations

import warnings

from .backend import _C

__all__ = ["are_deterministic_algorithms_enabled", "is_deterministic_algorithms_warn_only_enabled",
           "use_deterministic_algorithms"]

_warn_only = False


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """As torch.use_deterministic_algorithms: with mode=True, CPU kernels give the same
    bits for the same inputs whatever the thread count (see the module docstring).

    No CPU kernel lacks a deterministic version, so warn_only changes nothing there; it is
    kept for PyTorch's signature and reported by is_deterministic_algorithms_warn_only_enabled.
    """
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms: mode must be a bool, got {type(mode).__name__}")
    if not isinstance(warn_only, bool):
        raise TypeError(f"use_deterministic_algorithms: warn_only must be a bool, got {type(warn_only).__name__}")
    global _warn_only
    _C.set_deterministic(mode)
    _warn_only = warn_only if mode else False
    if mode:
        from . import cuda
        if cuda.is_available():
            warnings.warn("use_deterministic_algorithms: the mode covers CPU kernels only; CUDA kernels may still "
                          "vary between runs", stacklevel=2)


def are_deterministic_algorithms_enabled() -> bool:
    """Whether use_deterministic_algorithms(True) is in effect."""
    return bool(_C.deterministic())


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """Whether the mode was turned on with warn_only=True (as torch's function of that name)."""
    return _warn_only and are_deterministic_algorithms_enabled()
