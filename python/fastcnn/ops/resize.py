"""Bilinear resize: torch.nn.functional.interpolate(mode="bilinear", align_corners=False)."""

from __future__ import annotations

import numpy as np

from .. import backend
from ._args import as_tuple, float32_array, shape_str

__all__ = ["resize_bilinear"]


def resize_bilinear(input, size) -> np.ndarray:
    """input (..., H, W) float32 resized to (..., OH, OW), size an int or (OH, OW).

    Same values as F.interpolate(x, size=size, mode="bilinear", align_corners=False,
    antialias=False) for an (N, C, H, W) x (no anti-aliasing when shrinking).
    """
    op = "resize_bilinear"
    x = float32_array(input, op, "input")
    if x.ndim < 2:
        raise ValueError(f"{op}: input must have at least 2 dimensions (..., H, W), got shape {shape_str(x.shape)}")
    oh, ow = as_tuple(size, 2, op, "size", minimum=1)
    if x.shape[-2] < 1 or x.shape[-1] < 1:
        raise ValueError(f"{op}: input has an empty spatial size, shape {shape_str(x.shape)}")
    out = np.empty(x.shape[:-2] + (oh, ow), dtype=np.float32)
    if out.size == 0:
        return out
    return backend._C.resize_bilinear_forward(x, out)
