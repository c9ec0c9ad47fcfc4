"""Classic image filters (the convolutions the courses start with) and apply().

Kernels are cross-correlation kernels, as conv2d applies them (no flip). apply() runs
fastcnn.ops.conv2d with padding="same" (zeros outside the image), one channel at a time
for RGB (a depthwise convolution), and returns float32 without clipping.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KERNELS", "apply", "get_kernel"]


def _k(rows, scale=1.0):
    return (np.asarray(rows, dtype=np.float64) * scale).astype(np.float32)


_EDGE_V = [[-1, -1, 1, 1]] * 4  # dark to bright from left to right

KERNELS: dict[str, np.ndarray] = {
    "identity": _k([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    # The three edge detectors of the course (the second is the Laplacian "high-pass" filter).
    "edge1": _k([[1, 0, -1], [0, 0, 0], [-1, 0, 1]]),
    "edge2": _k([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "edge3": _k([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    "high_pass": _k([[0, -1, 0], [-1, 4, -1], [0, -1, 0]]),
    "sobel_x": _k([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel_y": _k([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "sharpen": _k([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "box_blur": _k(np.ones((3, 3)), 1.0 / 9.0),
    "gaussian_blur_3x3": _k([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1.0 / 16.0),
    "gaussian_blur_5x5": _k(np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]), 1.0 / 256.0),
    # The course's four 4x4 filters: vertical edges (both polarities), horizontal edges.
    "vertical_edge_4x4": _k(_EDGE_V),
    "vertical_edge_4x4_inv": _k(np.negative(_EDGE_V)),
    "horizontal_edge_4x4": _k(np.transpose(_EDGE_V)),
    "horizontal_edge_4x4_inv": _k(np.negative(np.transpose(_EDGE_V))),
    "emboss": _k([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
}
for _v in KERNELS.values():
    _v.setflags(write=False)


def get_kernel(name: str) -> np.ndarray:
    if name not in KERNELS:
        raise ValueError(f"filters: unknown kernel {name!r}; choose from {', '.join(sorted(KERNELS))}")
    return KERNELS[name]


def apply(image, kernel) -> np.ndarray:
    """image (H, W) or (H, W, C) (uint8 or float) correlated with kernel (a name or a 2-d
    array), zero "same" padding (an even size pads one more at the end, as PyTorch).
    Returns float32 of the image's shape."""
    from .ops import conv2d
    if isinstance(kernel, str):
        kernel = get_kernel(kernel)
    k = np.asarray(kernel)
    if k.ndim != 2 or k.size == 0 or k.dtype.kind not in "iuf":
        raise ValueError(f"filters.apply: kernel must be a non-empty 2-d numeric array, got shape {k.shape}")
    if not isinstance(image, np.ndarray):
        raise TypeError(f"filters.apply: image must be a numpy.ndarray, got {type(image).__name__}")
    if image.dtype.kind not in "iuf" or image.dtype == np.bool_:
        raise TypeError(f"filters.apply: image has dtype {image.dtype}, expected uint8 or float")
    if image.ndim == 2:
        planes = image[None, None]
    elif image.ndim == 3:
        planes = np.moveaxis(image, -1, 0)[None]
    else:
        raise ValueError(f"filters.apply: image must be (H, W) or (H, W, C), got shape {image.shape}")
    if min(image.shape[:2]) < 1:
        raise ValueError(f"filters.apply: image is empty, shape {image.shape}")
    x = np.ascontiguousarray(planes, dtype=np.float32)
    c = x.shape[1]
    w = np.ascontiguousarray(np.broadcast_to(k.astype(np.float32), (c, 1) + k.shape))
    y = conv2d(x, w, padding="same", groups=c)[0]
    return y[0] if image.ndim == 2 else np.ascontiguousarray(np.moveaxis(y, 0, -1))
