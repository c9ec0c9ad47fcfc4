"""fastcnn.data.transforms and the resize kernel: against torch / torchvision semantics
and float64 NumPy references, single images and batches, seeding, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

import fastcnn
from fastcnn.data import transforms as T
from fastcnn.ops import resize_bilinear

torch = pytest.importorskip("torch")
F = torch.nn.functional


def resize_reference(x, oh, ow):
    """float64 bilinear resize, align_corners=False (half-pixel centres, clamped)."""
    x = np.asarray(x, dtype=np.float64)
    h, w = x.shape[-2:]

    def taps(n_in, n_out):
        src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(int), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo

    r0, r1, fy = taps(h, oh)
    c0, c1, fx = taps(w, ow)
    rows = x[..., r0, :] * (1 - fy)[:, None] + x[..., r1, :] * fy[:, None]
    return rows[..., c0] * (1 - fx) + rows[..., c1] * fx


RESIZE_CASES = [((1, 1, 5, 7), (5, 7)), ((2, 3, 28, 28), (32, 32)), ((1, 1, 28, 28), (14, 9)),
                ((3, 2, 1, 1), (4, 3)), ((1, 4, 13, 17), (1, 1)), ((2, 1, 7, 3), (19, 2)), ((1, 3, 64, 48), (224, 224))]


@pytest.mark.parametrize("shape,size", RESIZE_CASES)
def test_resize_kernel_matches_torch_and_reference(shape, size, threads):
    rng = np.random.default_rng(sum(shape) * 31 + size[0])
    x = rng.standard_normal(shape).astype(np.float32)
    got = resize_bilinear(x, size)
    want_torch = F.interpolate(torch.from_numpy(x), size=size, mode="bilinear", align_corners=False,
                               antialias=False).numpy()
    # The source coordinate is computed in float32 (as torch does): its rounding error,
    # about eps * size, moves the lerp weights, times the step between neighbours (<= 2|x|).
    atol = 1e-6 + 4 * np.finfo(np.float32).eps * max(shape[-2:]) * float(np.abs(x).max())
    np.testing.assert_allclose(got, want_torch, rtol=0, atol=atol)
    np.testing.assert_allclose(got, resize_reference(x, *size), rtol=0, atol=atol)


def test_resize_any_leading_dims():
    x = np.random.default_rng(0).random((2, 3, 4, 6, 5), dtype=np.float32)
    out = resize_bilinear(x, 3)
    assert out.shape == (2, 3, 4, 3, 3)
    np.testing.assert_allclose(out, resize_reference(x, 3, 3), atol=1e-6)
    np.testing.assert_allclose(resize_bilinear(x[0, 0, 0], (8, 2)), resize_reference(x[0, 0, 0], 8, 2), atol=1e-6)


def test_resize_bad_inputs():
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)
    with pytest.raises(TypeError, match="input has dtype float64"):
        resize_bilinear(x.astype(np.float64), 2)
    with pytest.raises(ValueError, match="size must be >= 1"):
        resize_bilinear(x, (0, 2))
    with pytest.raises(TypeError, match="size must be an int or a sequence of 2 ints"):
        resize_bilinear(x, (2, 2, 2))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        resize_bilinear(np.zeros(3, dtype=np.float32), 2)
    with pytest.raises(ValueError, match="empty spatial size"):
        resize_bilinear(np.zeros((1, 0, 4), dtype=np.float32), 2)
    from fastcnn import _C
    with pytest.raises(ValueError, match="out has shape"):
        _C.resize_bilinear_forward(x, np.empty((2, 1, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="overlaps input"):
        _C.resize_bilinear_forward(x, x.reshape(1, 1, 4, 4))
    with pytest.raises(ValueError, match="not C-contiguous"):
        _C.resize_bilinear_forward(x, np.empty((1, 1, 4, 8), dtype=np.float32)[..., ::2])
    with pytest.raises(ValueError, match="read-only"):
        ro = np.empty((1, 1, 2, 2), dtype=np.float32)
        ro.setflags(write=False)
        _C.resize_bilinear_forward(x, ro)


def test_to_tensor():
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (5, 7)).astype(np.uint8)
    rgb = rng.integers(0, 256, (5, 7, 3)).astype(np.uint8)
    g = T.ToTensor()(gray)
    assert g.shape == (1, 5, 7) and g.dtype == np.float32
    np.testing.assert_allclose(g[0], gray / 255.0, rtol=1e-6)
    c = T.ToTensor()(rgb)
    assert c.shape == (3, 5, 7) and c.flags.c_contiguous
    np.testing.assert_allclose(c, np.moveaxis(rgb, -1, 0) / 255.0, rtol=1e-6)
    b = T.ToTensor().batch(np.stack([gray, gray]))
    assert b.shape == (2, 1, 5, 7)
    np.testing.assert_array_equal(b[1], g)
    bc = T.ToTensor().batch(rgb[None])
    np.testing.assert_array_equal(bc[0], c)
    f = T.ToTensor()(rgb.astype(np.float32))  # floats are not rescaled (torchvision)
    np.testing.assert_array_equal(f, np.moveaxis(rgb, -1, 0).astype(np.float32))
    with pytest.raises(ValueError, match=r"image must be \(H, W\) or \(H, W, C\)"):
        T.ToTensor()(np.zeros(3, dtype=np.uint8))
    with pytest.raises(TypeError, match="dtype int32"):
        T.ToTensor()(np.zeros((2, 2), dtype=np.int32))


def test_normalize_matches_torch():
    x = np.random.default_rng(2).random((4, 3, 6, 5), dtype=np.float32)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    got = T.Normalize(mean, std)(x)
    want = (torch.from_numpy(x) - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-6)
    np.testing.assert_allclose(T.Normalize(mean, std)(x[0]), got[0], rtol=1e-6)
    one = T.Normalize(0.5, 0.25)(x)
    np.testing.assert_allclose(one, (x - 0.5) / 0.25, rtol=1e-6)
    with pytest.raises(ValueError, match="std must not contain 0"):
        T.Normalize(0.1, 0.0)
    with pytest.raises(ValueError, match="mean has 2 values but the image has 3 channels"):
        T.Normalize((0.1, 0.2), (1.0, 1.0))(x)
    with pytest.raises(TypeError, match="dtype uint8, expected float32"):
        T.Normalize(0.1, 1.0)(np.zeros((1, 2, 2), dtype=np.uint8))


def test_resize_transform_sizes():
    x = np.random.default_rng(3).random((2, 1, 20, 30), dtype=np.float32)
    assert T.Resize((8, 9))(x).shape == (2, 1, 8, 9)
    assert T.Resize(10)(x).shape == (2, 1, 10, 15)  # smaller edge, aspect kept
    assert T.Resize(10)(x[0].transpose(0, 2, 1).copy()).shape == (1, 15, 10)
    got = T.Resize((7, 11))(x)
    want = F.interpolate(torch.from_numpy(x), size=(7, 11), mode="bilinear", align_corners=False).numpy()
    np.testing.assert_allclose(got, want, atol=2e-6)
    with pytest.raises(ValueError, match="size must be >= 1"):
        T.Resize(0)


def test_horizontal_flip_per_sample_and_seeded():
    x = np.random.default_rng(4).random((64, 2, 3, 5), dtype=np.float32)
    out = T.RandomHorizontalFlip(0.5).batch(x, generator=np.random.default_rng(7))
    flipped = np.array([np.array_equal(o, s[..., ::-1]) for o, s in zip(out, x)])
    kept = np.array([np.array_equal(o, s) for o, s in zip(out, x)])
    assert np.all(flipped ^ kept) and 10 < flipped.sum() < 54
    again = T.RandomHorizontalFlip(0.5).batch(x, generator=np.random.default_rng(7))
    np.testing.assert_array_equal(out, again)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(x[0]), x[0][..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(0.0)(x), x)
    fastcnn.manual_seed(5)
    a = T.RandomHorizontalFlip()(x)
    fastcnn.manual_seed(5)
    np.testing.assert_array_equal(T.RandomHorizontalFlip()(x), a)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        T.RandomHorizontalFlip(1.5)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_rotation_geometry(interpolation):
    img = np.arange(2 * 5 * 5, dtype=np.float32).reshape(2, 5, 5)
    ccw = T.RandomRotation((90, 90), interpolation=interpolation)(img)
    np.testing.assert_allclose(ccw, np.rot90(img, 1, axes=(1, 2)), atol=1e-4)  # counter-clockwise
    cw = T.RandomRotation((-90, -90), interpolation=interpolation)(img)
    np.testing.assert_allclose(cw, np.rot90(img, -1, axes=(1, 2)), atol=1e-4)
    half = T.RandomRotation((180, 180), interpolation=interpolation)(img[None])[0]
    np.testing.assert_allclose(half, img[:, ::-1, ::-1], atol=1e-4)
    np.testing.assert_allclose(T.RandomRotation(0, interpolation=interpolation)(img), img, atol=1e-5)


def test_rotation_small_angle_and_fill():
    img = np.zeros((1, 9, 9), dtype=np.float32)
    img[0, 4, :] = 1.0  # a horizontal line through the centre
    out = T.RandomRotation((45, 45), fill=0.0)(img)[0]
    assert out[4, 4] == pytest.approx(1.0)
    assert out[2, 6] == pytest.approx(1.0, abs=1e-5) and out[6, 2] == pytest.approx(1.0, abs=1e-5)  # up-right
    assert out[6, 6] == pytest.approx(0.0, abs=1e-5)
    corner = T.RandomRotation((45, 45), fill=-1.0)(np.ones((1, 9, 9), dtype=np.float32))[0]
    assert corner[0, 0] == -1.0 and corner[4, 4] == 1.0
    angles = T.RandomRotation(30).batch(np.ones((16, 1, 9, 9), dtype=np.float32), generator=np.random.default_rng(0))
    assert len({float(a[0, 0, 0]) for a in angles}) > 1 or np.unique(angles.reshape(16, -1), axis=0).shape[0] > 1
    with pytest.raises(ValueError, match="interpolation must be"):
        T.RandomRotation(10, interpolation="cubic")
    with pytest.raises(ValueError, match="degrees must be >= 0"):
        T.RandomRotation(-5)


def test_random_crop_with_padding():
    x = np.random.default_rng(5).random((32, 1, 6, 6), dtype=np.float32) + 1.0  # all > 0
    out = T.RandomCrop(6, padding=2).batch(x, generator=np.random.default_rng(1))
    assert out.shape == (32, 1, 6, 6)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = set()
    for i in range(32):
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if np.array_equal(padded[i, :, dy:dy + 6, dx:dx + 6], out[i])]
        assert hits, "each crop is a window of the padded image"
        offsets.add(hits[0])
    assert len(offsets) > 5  # per-sample offsets
    assert T.RandomCrop((3, 4))(x[0]).shape == (1, 3, 4)
    assert T.RandomCrop(8, pad_if_needed=True)(x[0]).shape == (1, 8, 8)
    with pytest.raises(ValueError, match=r"size \(9, 9\) is larger than the padded image \(8, 8\)"):
        T.RandomCrop(9, padding=1)(x[0])
    with pytest.raises(ValueError, match="padding must be an int or 2 or 4 ints"):
        T.RandomCrop(3, padding=(1, 2, 3))


def test_random_resized_crop():
    x = np.random.default_rng(6).random((8, 3, 20, 24), dtype=np.float32)
    t = T.RandomResizedCrop(12, scale=(0.3, 1.0))
    out = t.batch(x, generator=np.random.default_rng(2))
    assert out.shape == (8, 3, 12, 12) and out.dtype == np.float32
    np.testing.assert_array_equal(out, t.batch(x, generator=np.random.default_rng(2)))
    rng = np.random.default_rng(3)
    for _ in range(50):
        top, left, h, w = t.get_params(20, 24, rng)
        assert 0 <= top and top + h <= 20 and 0 <= left and left + w <= 24
        assert 0.3 * 480 * 0.9 <= h * w <= 480 and 0.7 <= w / h <= 1.45
    # A full-image crop (scale 1, the image's own ratio) is a plain resize.
    full = T.RandomResizedCrop((10, 12), scale=(1.0, 1.0), ratio=(1.2, 1.2))(x[:1])
    np.testing.assert_allclose(full, resize_bilinear(x[:1], (10, 12)), atol=1e-6)
    with pytest.raises(ValueError, match="scale must be"):
        T.RandomResizedCrop(8, scale=(0.5, 0.1))


def test_compose_single_and_batch_agree():
    rng = np.random.default_rng(8)
    imgs = rng.integers(0, 256, (4, 12, 12)).astype(np.uint8)
    t = T.Compose([T.ToTensor(), T.Resize(16), T.Normalize(0.5, 0.5)])
    batch = t.batch(imgs)
    assert batch.shape == (4, 1, 16, 16)
    for i in range(4):
        np.testing.assert_allclose(t(imgs[i]), batch[i], rtol=1e-6)
    # A plain callable in a Compose works per sample.
    scaled = T.Compose([T.ToTensor(), lambda x: x * 2])(imgs[0])
    np.testing.assert_allclose(scaled, imgs[0][None] / 255.0 * 2, rtol=1e-6)
    with pytest.raises(TypeError, match="has no batch form"):
        T.Compose([lambda x: x]).batch(imgs)


def rotate_reference(img, degrees, fill):
    """Per-pixel float64 bilinear rotation (counter-clockwise), taps outside read fill."""
    c, h, w = img.shape
    t = np.deg2rad(degrees)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    out = np.zeros((c, h, w))

    def tap(y, x):
        return img[:, y, x] if 0 <= y < h and 0 <= x < w else np.full(c, fill)

    for i in range(h):
        for j in range(w):
            u, v = j - cx, i - cy
            sx, sy = u * np.cos(t) - v * np.sin(t) + cx, u * np.sin(t) + v * np.cos(t) + cy
            x0, y0 = int(np.floor(sx)), int(np.floor(sy))
            fx, fy = sx - x0, sy - y0
            out[:, i, j] = ((1 - fy) * ((1 - fx) * tap(y0, x0) + fx * tap(y0, x0 + 1))
                            + fy * ((1 - fx) * tap(y0 + 1, x0) + fx * tap(y0 + 1, x0 + 1)))
    return out


@pytest.mark.parametrize("degrees,shape", [(30.0, (2, 7, 9)), (-117.0, (1, 8, 8)), (5.0, (3, 1, 6))])
def test_rotation_matches_reference(degrees, shape):
    img = np.random.default_rng(9).random(shape, dtype=np.float32)
    got = T.RandomRotation((degrees, degrees), fill=0.25)(img)
    # float32 coordinates: errors of a few ulps of the size in the weights.
    np.testing.assert_allclose(got, rotate_reference(img, degrees, 0.25), atol=1e-5)
