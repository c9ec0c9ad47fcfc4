"""The strided, few-channel first layers (ResNet's 7x7/2 stem, AlexNet's 11x11/4, small
3x3/2 and 5x5/2 layers) that Auto runs with the direct kernel: forward and every gradient
against the float64 reference of test_conv.py, forced and through Auto."""

from __future__ import annotations

import pytest

from fastcnn import ops
from test_conv import check_conv

STEMS = [  # (input shape, weight shape, stride, padding)
    ((2, 3, 30, 30), (64, 3, 7, 7), 2, 3),     # ResNet's stem, small image
    ((1, 3, 35, 35), (96, 3, 11, 11), 4, 0),   # AlexNet's conv1, small image
    ((2, 16, 13, 11), (32, 16, 5, 5), 2, 2),   # odd sizes
    ((3, 24, 9, 9), (40, 24, 3, 3), 2, 1),     # channels not a multiple of the vector
    ((1, 1, 8, 8), (17, 1, 3, 3), (2, 3), 1),  # asymmetric strides
]


@pytest.mark.parametrize("algorithm", [None, "direct"])
@pytest.mark.parametrize("x_shape,w_shape,stride,padding", STEMS)
def test_stems_match_reference(x_shape, w_shape, stride, padding, algorithm, kernel_path, threads):
    if algorithm is None:
        assert ops.conv2d_algorithm(x_shape, w_shape, stride, padding) == "direct"
    check_conv(x_shape, w_shape, stride, padding, algorithm=algorithm)
