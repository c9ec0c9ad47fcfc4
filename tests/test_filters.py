"""fastcnn.filters: every kernel against a NumPy float64 correlation with zero "same"
padding, the course's worked example, RGB handling and bad inputs."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from fastcnn import filters


def correlate_same(image, kernel):
    """Zero-padded cross-correlation with PyTorch's 'same' split (extra pad at the end)."""
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    r, s = kernel.shape
    top, left = (r - 1) // 2, (s - 1) // 2
    padded = np.pad(image, ((top, r - 1 - top), (left, s - 1 - left)))
    h, w = image.shape
    out = np.zeros((h, w))
    for i in range(r):
        for j in range(s):
            out += kernel[i, j] * padded[i:i + h, j:j + w]
    return out


COURSE_IMAGE = np.array([[10, 73, 64, 12, 87, 16], [91, 45, 26, 14, 8, 71], [56, 80, 27, 0, 26, 48],
                         [42, 25, 71, 18, 9, 3], [69, 74, 34, 45, 99, 30], [78, 49, 33, 87, 51, 25]], dtype=np.uint8)


def test_course_worked_example(kernel_path):
    out = filters.apply(COURSE_IMAGE, [[0, -1, 0], [-1, 4, -1], [0, -1, 0]])
    assert out.dtype == np.float32 and out.shape == (6, 6)
    valid = out[1:-1, 1:-1]  # the 4x4 result of the course (no padding)
    np.testing.assert_array_equal(valid[0], [-90, -46, 10, -166])
    assert valid[1, 0] == 167 and valid[3, 3] == 261
    np.testing.assert_array_equal(filters.apply(COURSE_IMAGE, "high_pass"), out)


@pytest.mark.parametrize("name", sorted(filters.KERNELS))
@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (28, 28), (3, 2)])
def test_each_kernel_matches_reference(name, shape, kernel_path, threads):
    rng = np.random.default_rng(zlib.crc32(f"{name}{shape}".encode()))
    image = rng.integers(0, 256, size=shape).astype(np.uint8)
    got = filters.apply(image, name)
    want = correlate_same(image, filters.KERNELS[name])
    # Integer-valued sums of at most 16 terms of 255 * 8: exact in float32, up to the
    # 1/9, 1/16, 1/256 scales (rounded once per product).
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


def test_kernels_named_and_shaped():
    expected_4x4 = {"vertical_edge_4x4", "vertical_edge_4x4_inv", "horizontal_edge_4x4", "horizontal_edge_4x4_inv"}
    for name in expected_4x4:
        assert filters.KERNELS[name].shape == (4, 4)
        assert filters.KERNELS[name].sum() == 0
    np.testing.assert_array_equal(filters.KERNELS["vertical_edge_4x4"][0], [-1, -1, 1, 1])
    np.testing.assert_array_equal(filters.KERNELS["horizontal_edge_4x4"][:, 0], [-1, -1, 1, 1])
    for blur in ("box_blur", "gaussian_blur_3x3", "gaussian_blur_5x5"):
        assert filters.KERNELS[blur].sum() == pytest.approx(1.0, abs=1e-6)
    assert filters.KERNELS["gaussian_blur_5x5"].shape == (5, 5)
    for name in ("edge1", "edge2", "edge3", "sobel_x", "sobel_y"):
        assert filters.KERNELS[name].sum() == 0
    with pytest.raises(ValueError):
        filters.KERNELS["sharpen"][0, 0] = 3  # read-only: a shared constant


def test_identity_and_blur_of_constant_image():
    img = np.full((9, 9), 100, dtype=np.uint8)
    np.testing.assert_array_equal(filters.apply(img, "identity"), img.astype(np.float32))
    blurred = filters.apply(img, "gaussian_blur_5x5")
    np.testing.assert_allclose(blurred[2:-2, 2:-2], 100, rtol=1e-6)  # interior untouched by padding
    assert blurred[0, 0] < 100  # zeros come in at the border


def test_sobel_finds_the_step():
    img = np.zeros((6, 8), dtype=np.float32)
    img[:, 4:] = 1.0
    gx, gy = filters.apply(img, "sobel_x"), filters.apply(img, "sobel_y")
    assert np.all(gx[1:-1, 3:5] == 4) and np.all(gx[1:-1, :2] == 0)
    np.testing.assert_array_equal(gy[1:-1], 0)


def test_rgb_is_filtered_per_channel(kernel_path):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(7, 9, 3)).astype(np.uint8)
    out = filters.apply(img, "sharpen")
    assert out.shape == (7, 9, 3) and out.dtype == np.float32
    for c in range(3):
        np.testing.assert_allclose(out[..., c], correlate_same(img[..., c], filters.KERNELS["sharpen"]), atol=1e-3)
    # A float image and a non-contiguous view give the same result.
    np.testing.assert_allclose(filters.apply(img.astype(np.float64)[:, ::-1], "sharpen"),
                               filters.apply(np.ascontiguousarray(img[:, ::-1]), "sharpen"))


def test_bad_inputs():
    img = np.zeros((4, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match="unknown kernel 'blurry'"):
        filters.apply(img, "blurry")
    with pytest.raises(ValueError, match="kernel must be a non-empty 2-d"):
        filters.apply(img, np.ones(3))
    with pytest.raises(ValueError, match=r"image must be \(H, W\) or \(H, W, C\)"):
        filters.apply(np.zeros((1, 2, 3, 4)), "identity")
    with pytest.raises(TypeError, match="image must be a numpy.ndarray"):
        filters.apply([[1, 2], [3, 4]], "identity")
    with pytest.raises(TypeError, match="image has dtype bool"):
        filters.apply(np.zeros((3, 3), dtype=bool), "identity")
    with pytest.raises(ValueError, match="image is empty"):
        filters.apply(np.zeros((0, 3)), "identity")
