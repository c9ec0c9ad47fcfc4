"""Image transforms, torchvision-style, vectorised over batches and seedable.

Every transform takes a single image (C, H, W) or, through `.batch(x)` (or a 4-d input),
a batch (N, C, H, W), drawing independent random parameters per sample. ToTensor turns
uint8 (H, W) / (H, W, C) images (batch: (N, H, W) / (N, H, W, C)) into float32 CHW in
[0, 1]. Random transforms draw from `generator` (a numpy Generator or fastcnn Generator)
when given to the call, else from their own `generator=` argument, else from fastcnn's
global generator (fastcnn.manual_seed makes them reproducible).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["Transform", "Compose", "ToTensor", "Normalize", "Resize", "RandomHorizontalFlip", "RandomRotation",
           "RandomResizedCrop", "RandomCrop"]


def _rng(generator):
    if generator is None:
        from .. import random as _random
        return _random.default_generator.numpy
    if isinstance(generator, np.random.Generator):
        return generator
    if hasattr(generator, "numpy") and isinstance(generator.numpy, np.random.Generator):
        return generator.numpy
    raise TypeError(f"transforms: generator must be a numpy.random.Generator or fastcnn Generator, "
                    f"got {type(generator).__name__}")


def _size_pair(size, name: str, op: str) -> tuple[int, int]:
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        pair = (int(size), int(size))
    else:
        try:
            pair = tuple(int(s) for s in size)
        except TypeError:
            raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {size!r}") from None
        if len(pair) == 1:
            pair = pair * 2
        if len(pair) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {size!r}")
    if min(pair) < 1:
        raise ValueError(f"{op}: {name} must be >= 1, got {size!r}")
    return pair


def _float_image(x, op: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        if hasattr(x, "numpy"):
            x = x.numpy()
        else:
            raise TypeError(f"{op}: image must be a numpy.ndarray or Tensor, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise TypeError(f"{op}: image has dtype {x.dtype}, expected float32 (apply ToTensor first)")
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: image must be (C, H, W) or a batch (N, C, H, W), got shape {x.shape}")
    return x


class Transform:
    """Base: subclasses implement _batch(x (N, C, H, W) float32, rng) -> batch."""

    takes_generator = True
    random = False

    def __init__(self, generator=None):
        self.generator = generator

    def _pick(self, generator):
        return _rng(generator if generator is not None else self.generator) if self.random else None

    def __call__(self, x, generator=None):
        x = _float_image(x, type(self).__name__)
        if x.ndim == 4:
            return self._batch(x, self._pick(generator))
        return self._batch(x[None], self._pick(generator))[0]

    def batch(self, x, generator=None):
        x = _float_image(x, type(self).__name__)
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__}.batch: expected (N, C, H, W), got shape {x.shape}")
        return self._batch(x, self._pick(generator))

    def _batch(self, x, rng):
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Compose:
    """Applies transforms in order (each may be one of ours or any callable)."""

    takes_generator = True

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, generator=None):
        for t in self.transforms:
            x = t(x, generator=generator) if getattr(t, "takes_generator", False) else t(x)
        return x

    def batch(self, x, generator=None):
        for t in self.transforms:
            if not callable(getattr(t, "batch", None)):
                raise TypeError(f"Compose.batch: {t!r} has no batch form")
            x = t.batch(x, generator=generator)
        return x

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class ToTensor:
    """uint8 (H, W) or (H, W, C) in 0..255 -> float32 (C, H, W) in [0, 1]; float input is
    only transposed (as torchvision). batch(): (N, H, W) or (N, H, W, C) -> (N, C, H, W)."""

    takes_generator = True

    def __call__(self, x, generator=None):
        x = self._check(x, (2, 3), "ToTensor", "(H, W) or (H, W, C)")
        if x.ndim == 2:
            x = x[None]
        else:
            x = np.moveaxis(x, -1, 0)
        return self._scale(x)

    def batch(self, x, generator=None):
        x = self._check(x, (3, 4), "ToTensor.batch", "(N, H, W) or (N, H, W, C)")
        x = x[:, None] if x.ndim == 3 else np.moveaxis(x, -1, 1)
        return self._scale(x)

    @staticmethod
    def _check(x, ndims, op, layout):
        if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
            x = x.numpy()
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{op}: image must be a numpy.ndarray, got {type(x).__name__}")
        if x.ndim not in ndims:
            raise ValueError(f"{op}: image must be {layout}, got shape {x.shape}")
        if x.dtype != np.uint8 and x.dtype.kind not in "f":
            raise TypeError(f"{op}: image has dtype {x.dtype}, expected uint8 or float")
        return x

    @staticmethod
    def _scale(x):
        if x.dtype == np.uint8:
            out = np.empty(x.shape, dtype=np.float32)
            np.multiply(x, np.float32(1.0 / 255.0), out=out, casting="unsafe")
            return out
        return np.ascontiguousarray(x, dtype=np.float32)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize(Transform):
    """(x - mean[c]) / std[c] per channel, as torchvision.transforms.Normalize."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError(f"Normalize: mean and std must be numbers or sequences, got {mean!r}, {std!r}")
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std must not contain 0, got {std!r}")

    def _batch(self, x, rng):
        c = x.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ValueError(f"Normalize: {name} has {len(v)} values but the image has {c} channels")
        mean = np.broadcast_to(self.mean, (c,))[:, None, None]
        std = np.broadcast_to(self.std, (c,))[:, None, None]
        return ((x - mean) / std).astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def _resize(x, size):
    from ..ops import resize_bilinear
    return resize_bilinear(np.ascontiguousarray(x), size)


class Resize(Transform):
    """Bilinear resize (native kernel, F.interpolate(align_corners=False, antialias=False)).

    size (h, w) is exact; an int sets the smaller edge, keeping the aspect ratio, as
    torchvision.
    """

    def __init__(self, size):
        super().__init__()
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            if size < 1:
                raise ValueError(f"Resize: size must be >= 1, got {size}")
            self.size = int(size)
        else:
            self.size = _size_pair(size, "size", "Resize")

    def output_size(self, h, w):
        if isinstance(self.size, tuple):
            return self.size
        short, long = (h, w) if h <= w else (w, h)
        new_long = int(self.size * long / short)
        return (self.size, new_long) if h <= w else (new_long, self.size)

    def _batch(self, x, rng):
        return _resize(x, self.output_size(x.shape[2], x.shape[3]))

    def __repr__(self) -> str:
        return f"Resize(size={self.size})"


class RandomHorizontalFlip(Transform):
    """Flips each image left-right with probability p."""

    random = True

    def __init__(self, p: float = 0.5, generator=None):
        super().__init__(generator)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def _batch(self, x, rng):
        flip = rng.random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomRotation(Transform):
    """Rotates each image by an angle drawn uniformly from degrees (d -> [-d, d]) about its
    centre, counter-clockwise for positive angles as torchvision; outside pixels = fill."""

    random = True

    def __init__(self, degrees, interpolation: str = "bilinear", fill: float = 0.0, generator=None):
        super().__init__(generator)
        if isinstance(degrees, numbers.Number):
            if degrees < 0:
                raise ValueError(f"RandomRotation: degrees must be >= 0 when a number, got {degrees}")
            degrees = (-float(degrees), float(degrees))
        else:
            degrees = tuple(float(d) for d in degrees)
            if len(degrees) != 2 or degrees[0] > degrees[1]:
                raise ValueError(f"RandomRotation: degrees must be a number or (min, max), got {degrees!r}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"RandomRotation: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.degrees = degrees
        self.interpolation = interpolation
        self.fill = float(fill)

    def _batch(self, x, rng):
        n, c, h, w = x.shape
        theta = np.deg2rad(rng.uniform(self.degrees[0], self.degrees[1], size=n))
        return rotate(x, theta, self.interpolation, self.fill)

    def __repr__(self) -> str:
        return f"RandomRotation(degrees={self.degrees}, interpolation={self.interpolation!r})"


def rotate(x, theta, interpolation="bilinear", fill=0.0):
    """x (N, C, H, W) rotated by theta[i] radians (counter-clockwise) about the centre.

    The image gets a one-pixel border of `fill` and source coordinates are clamped into
    it, so taps outside the image read `fill` with no masks: one gather per tap.
    """
    n, c, h, w = x.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    v, u = np.meshgrid(np.arange(h, dtype=np.float32) - cy, np.arange(w, dtype=np.float32) - cx, indexing="ij")
    cos = np.cos(theta).astype(np.float32).reshape(n, 1, 1)
    sin = np.sin(theta).astype(np.float32).reshape(n, 1, 1)
    # Inverse map (y down): the source of output (u, v) is (u, v) rotated back by theta;
    # +1 for the border, clamped to it.
    sx = np.clip(u * cos - v * sin + (cx + 1), 0, w + 1).reshape(n, 1, h * w)
    sy = np.clip(u * sin + v * cos + (cy + 1), 0, h + 1).reshape(n, 1, h * w)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=np.float32(fill)).reshape(n, c, -1)
    pw = w + 2
    if interpolation == "nearest":
        flat = np.rint(sy).astype(np.intp) * pw + np.rint(sx).astype(np.intp)
        return np.take_along_axis(padded, flat, axis=2).reshape(n, c, h, w)
    x0 = np.minimum(np.floor(sx), w).astype(np.intp)
    y0 = np.minimum(np.floor(sy), h).astype(np.intp)
    fx, fy = sx - x0, sy - y0
    base = y0 * pw + x0
    top = (np.take_along_axis(padded, base, axis=2) * (1 - fx) + np.take_along_axis(padded, base + 1, axis=2) * fx)
    bottom = (np.take_along_axis(padded, base + pw, axis=2) * (1 - fx)
              + np.take_along_axis(padded, base + pw + 1, axis=2) * fx)
    return (top * (1 - fy) + bottom * fy).astype(np.float32, copy=False).reshape(n, c, h, w)


class RandomResizedCrop(Transform):
    """A crop of random area (scale of the image) and aspect ratio, resized to size, as
    torchvision's (10 tries, then a central crop with the ratio clamped)."""

    random = True

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), generator=None):
        super().__init__(generator)
        self.size = _size_pair(size, "size", "RandomResizedCrop")
        scale, ratio = tuple(float(s) for s in scale), tuple(float(r) for r in ratio)
        if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f"RandomResizedCrop: scale must be (min, max) with 0 < min <= max, got {scale!r}")
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"RandomResizedCrop: ratio must be (min, max) with 0 < min <= max, got {ratio!r}")
        self.scale, self.ratio = scale, ratio

    def get_params(self, h, w, rng):
        area = h * w
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            cw = int(round(math.sqrt(target * aspect)))
            ch = int(round(math.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
        in_ratio = w / h
        if in_ratio < self.ratio[0]:
            cw, ch = w, int(round(w / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            ch, cw = h, int(round(h * self.ratio[1]))
        else:
            cw, ch = w, h
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def _batch(self, x, rng):
        n, c, h, w = x.shape
        out = np.empty((n, c) + self.size, dtype=np.float32)
        for i in range(n):
            top, left, ch, cw = self.get_params(h, w, rng)
            out[i] = _resize(x[i, :, top:top + ch, left:left + cw], self.size)
        return out

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"


class RandomCrop(Transform):
    """A random size crop after optional zero padding (int, (lr, tb) or (l, t, r, b)), as
    torchvision; pad_if_needed pads images smaller than size."""

    random = True

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill: float = 0.0, generator=None):
        super().__init__(generator)
        self.size = _size_pair(size, "size", "RandomCrop")
        if padding is None:
            pad = (0, 0, 0, 0)
        elif isinstance(padding, numbers.Integral):
            pad = (int(padding),) * 4
        else:
            p = tuple(int(v) for v in padding)
            if len(p) == 2:
                pad = (p[0], p[1], p[0], p[1])
            elif len(p) == 4:
                pad = p
            else:
                raise ValueError(f"RandomCrop: padding must be an int or 2 or 4 ints, got {padding!r}")
        if min(pad) < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding!r}")
        self.padding = pad  # left, top, right, bottom
        self.pad_if_needed = bool(pad_if_needed)
        self.fill = float(fill)

    def _batch(self, x, rng):
        n, c, h, w = x.shape
        left, top, right, bottom = self.padding
        th, tw = self.size
        if self.pad_if_needed:
            extra_h, extra_w = max(0, th - (h + top + bottom)), max(0, tw - (w + left + right))
            top, bottom, left, right = top + extra_h, bottom + extra_h, left + extra_w, right + extra_w
        ph, pw = h + top + bottom, w + left + right
        if th > ph or tw > pw:
            raise ValueError(f"RandomCrop: size {self.size} is larger than the padded image ({ph}, {pw})")
        if (left, top, right, bottom) != (0, 0, 0, 0):
            x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=self.fill)
        ys = rng.integers(0, ph - th + 1, size=n)
        xs = rng.integers(0, pw - tw + 1, size=n)
        out = np.empty((n, c, th, tw), dtype=np.float32)
        for i in range(n):
            out[i] = x[i, :, ys[i]:ys[i] + th, xs[i]:xs[i] + tw]
        return out

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"
