"""Conv1d and Conv2d layers (torch.nn.Conv1d/Conv2d): weight (out, in/groups, *kernel), bias (out,)."""

from __future__ import annotations


import numpy as np

from . import functional as F
from . import init
from ._utils import check_device_dtype, ntuple, positive_int
from .module import Module
from .parameter import Parameter

__all__ = ["Conv1d", "Conv2d"]


class _ConvNd(Module):
    _dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        name, n = type(self).__name__, self._dims
        check_device_dtype(name, device, dtype)
        in_channels = positive_int(in_channels, name, "in_channels")
        out_channels = positive_int(out_channels, name, "out_channels")
        groups = positive_int(groups, name, "groups")
        if in_channels % groups != 0:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups != 0:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        kernel_size = ntuple(kernel_size, n, name, "kernel_size")
        stride = ntuple(stride, n, name, "stride")
        dilation = ntuple(dilation, n, name, "dilation")
        for arg, values, low in (("kernel_size", kernel_size, 1), ("stride", stride, 1), ("dilation", dilation, 1)):
            if min(values) < low:
                raise ValueError(f"{name}: {arg} must be positive, got {values}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
        else:
            padding = ntuple(padding, n, name, "padding")
            if min(padding) < 0:
                raise ValueError(f"{name}: padding must be non-negative, got {padding}")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode must be 'zeros' (the only mode supported), got {padding_mode!r}")
        if not isinstance(bias, bool):
            raise TypeError(f"{name}: bias must be a bool, got {bias!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.transposed, self.output_padding = False, (0,) * n
        self.groups, self.padding_mode = groups, padding_mode
        self.weight = Parameter(np.empty((out_channels, in_channels // groups) + kernel_size, np.float32))
        if bias:
            self.bias = Parameter(np.empty((out_channels,), np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init._reset_fan_in_uniform(self.weight, self.bias)

    def extra_repr(self) -> str:
        n = self._dims
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """Input (N, in_channels, L) or (in_channels, L)."""

    _dims = 1

    def forward(self, input):
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """Input (N, in_channels, H, W) or (in_channels, H, W)."""

    _dims = 2

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
