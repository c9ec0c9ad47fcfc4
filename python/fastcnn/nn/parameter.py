"""nn.Parameter: a Tensor that a Module registers as a learnable parameter (as torch)."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, float32

__all__ = ["Parameter"]


class Parameter(Tensor):
    """Parameter(data=None, requires_grad=True): shares data's array when data is a float32 Tensor."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            array = np.empty((0,), np.float32)
        elif isinstance(data, Tensor):
            array = data._data if data.dtype == float32 else data._data.astype(np.float32)
        else:
            array = np.array(data, dtype=np.float32, copy=True)
        vc = data._vc if isinstance(data, Tensor) and array is data._data else None
        self._setup(np.ascontiguousarray(array), vc)
        self.requires_grad_(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
