"""nn.init: in-place weight initialisation, as torch.nn.init (same names, formulas, errors).

Samples come from fastcnn's global generator (fastcnn.manual_seed) or the `generator`
given; the values differ from torch's stream, the distributions are the same.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..random import default_generator
from ..tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_", "xavier_normal_",
    "kaiming_uniform_", "kaiming_normal_",
]


def _check(tensor, op) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: tensor must be a fastcnn.Tensor, got {type(tensor).__name__}")
    return tensor


def _fill(tensor: Tensor, values) -> Tensor:
    """Write values into tensor in place (no autograd record, as torch's no_grad init)."""
    np.copyto(tensor._data, values, casting="unsafe")
    tensor._bump()
    return tensor


def _rng(generator):
    return (generator or default_generator).numpy


def calculate_gain(nonlinearity, param=None) -> float:
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, numbers.Real):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.dim() > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor, mode) -> int:
    mode = mode.lower() if isinstance(mode, str) else mode
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    _check(tensor, "uniform_")
    if not a <= b:
        raise ValueError(f"uniform_: expects a <= b, got a={a}, b={b}")
    return _fill(tensor, _rng(generator).uniform(a, b, tensor.shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    _check(tensor, "normal_")
    if not std >= 0:
        raise ValueError(f"normal_: expects std >= 0.0, but found std {std}")
    return _fill(tensor, _rng(generator).normal(mean, std, tensor.shape))


def constant_(tensor, val: float) -> Tensor:
    return _fill(_check(tensor, "constant_"), val)


def zeros_(tensor) -> Tensor:
    return _fill(_check(tensor, "zeros_"), 0)


def ones_(tensor) -> Tensor:
    return _fill(_check(tensor, "ones_"), 1)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None) -> Tensor:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(_check(tensor, "xavier_uniform_"))
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None) -> Tensor:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(_check(tensor, "xavier_normal_"))
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity, op) -> float:
    _check(tensor, op)
    if 0 in tensor.shape:
        return 0.0
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None) -> Tensor:
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    if 0 in tensor.shape:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None) -> Tensor:
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    if 0 in tensor.shape:
        return tensor
    return normal_(tensor, 0.0, std, generator)


def _reset_fan_in_uniform(weight, bias) -> None:
    """torch's default for Linear and Conv: kaiming-uniform with a=sqrt(5) for the weight, i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
