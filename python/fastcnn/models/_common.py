"""Helpers shared by the model zoo: Conv2dNormActivation (torchvision.ops' conv -> batch norm ->
activation Sequential)."""

from __future__ import annotations

import numpy as np

from .. import nn


class Conv2dNormActivation(nn.Sequential):
    """Conv2d(bias=False) -> BatchNorm2d -> activation, keys 0/1 as torchvision's; padding keeps size."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, groups=1, activation_layer=nn.ReLU):
        padding = (kernel_size - 1) // 2
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False),
                  nn.BatchNorm2d(out_channels)]
        if activation_layer is not None:
            layers.append(activation_layer())
        super().__init__(*layers)
        self.out_channels = out_channels


def positive_int(value, name: str, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: {arg} must be a positive int, got {value!r}")
    return int(value)


def transform_input(x):
    """Map ImageNet-normalised input to the (x - 0.5) / 0.5 scaling the original Google weights expect,
    channel by channel, as torchvision's transform_input=True."""
    from ..tensor import cat
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    chans = [x[:, c:c + 1] * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5 for c in range(3)]
    return cat(chans, 1)
