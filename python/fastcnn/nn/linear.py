"""Linear (y = x W^T + b, weight (out_features, in_features)), Identity and Flatten."""

from __future__ import annotations


import numpy as np

from . import functional as F
from . import init
from ._utils import check_device_dtype, positive_int
from .module import Module
from .parameter import Parameter

__all__ = ["Linear", "Identity", "Flatten"]


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        check_device_dtype("Linear", device, dtype)
        self.in_features = positive_int(in_features, "Linear", "in_features", minimum=0)
        self.out_features = positive_int(out_features, "Linear", "out_features", minimum=0)
        if not isinstance(bias, bool):
            raise TypeError(f"Linear: bias must be a bool, got {bias!r}")
        self.weight = Parameter(np.empty((out_features, in_features), np.float32))
        if bias:
            self.bias = Parameter(np.empty((out_features,), np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init._reset_fan_in_uniform(self.weight, self.bias)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input; constructor arguments are ignored, as torch."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
