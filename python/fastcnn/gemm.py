"""Matrix multiplication on NumPy arrays, by fastcnn's GEMM kernel."""

from __future__ import annotations

import numpy as np

from .backend import _C


def _as_operand(x, name: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"matmul: {name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise TypeError(f"matmul: {name} has dtype {x.dtype}, expected float32 (use {name}.astype(np.float32))")
    if x.ndim == 0:
        raise ValueError(f"matmul: {name} must have at least 1 dimension, got a scalar")
    return x


def _layout(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """A C-contiguous array for the kernel and whether it holds x transposed (free for x.T views)."""
    if not x.flags.aligned:  # a view starting at an odd byte: the kernel needs aligned floats
        return np.require(x, requirements="CA"), False
    if x.flags.c_contiguous:
        return x, False
    if x.flags.f_contiguous:
        return x.T, True
    return np.ascontiguousarray(x), False


def _matmul_2d(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    a_data, trans_a = _layout(a)
    b_data, trans_b = _layout(b)
    _C.gemm(a_data, b_data, out, trans_a=trans_a, trans_b=trans_b)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Matrix product of float32 arrays with numpy.matmul's semantics.

    1-D operands are promoted to a row (a) or a column (b) and the added dimension is
    dropped from the result; leading dimensions broadcast as a batch. Transposed views
    (``x.T``) are read in place; other strided arrays are copied first.
    """
    a = _as_operand(a, "a")
    b = _as_operand(b, "b")
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ValueError(f"matmul: inner dimensions differ, a {a.shape} @ b {b.shape}")
    m, k, n = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    try:  # matrices need no broadcast (a few microseconds per call)
        batch_shape = () if a2.ndim == b2.ndim == 2 else np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions do not broadcast, a {a.shape} @ b {b.shape}") from None

    full_shape = (*batch_shape, m, n)
    result_shape = full_shape
    if a.ndim == 1:
        result_shape = (*batch_shape, n) if b.ndim > 1 else ()
    elif b.ndim == 1:
        result_shape = (*batch_shape, m)
    if out is not None:
        if not isinstance(out, np.ndarray) or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise TypeError("matmul: out must be a C-contiguous float32 numpy.ndarray")
        if out.shape != result_shape:
            raise ValueError(f"matmul: out has shape {out.shape}, expected {result_shape}")
        if np.shares_memory(out, a) or np.shares_memory(out, b):
            raise ValueError("matmul: out overlaps an input")
        c = out.reshape(full_shape)
    else:
        c = np.empty(full_shape, dtype=np.float32)

    if not batch_shape:
        _matmul_2d(a2, b2, c)
    else:
        batch = int(np.prod(batch_shape))

        def batched(x: np.ndarray) -> np.ndarray:
            if x.ndim == 2:  # one matrix shared by the whole batch: no copy
                return np.require(x, requirements="CA")
            x = np.broadcast_to(x, (*batch_shape, *x.shape[-2:]))
            return np.require(x, requirements="CA").reshape(batch, *x.shape[-2:])

        _C.gemm_batched(batched(a2), batched(b2), c.reshape(batch, m, n))
    if out is not None:
        return out
    result = c.reshape(result_shape)
    return result[()] if result.ndim == 0 else result  # 1-D @ 1-D: a scalar, as numpy gives


__all__ = ["matmul"]
