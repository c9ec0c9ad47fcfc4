"""Conv1d and Conv2d layers (torch.nn.Conv1d/Conv2d): weight (out, in/groups, *kernel), bias (out,).

In eval mode with no graph to record, the forward pass uses the weights pre-packed for the
algorithm the input's shape calls for (ops.conv2d_prepack), kept in a small per-layer cache:
at most _MAX_PACKS entries (one per algorithm), each valid for one weight object at one version
(in-place edits, load_state_dict and optimizer steps bump it), dropped by train() and never
saved in state_dict or pickled.
"""

from __future__ import annotations

import weakref

import numpy as np

from .. import ops
from ..autograd import is_grad_enabled
from ..ops.conv import _algorithm, _as_2d_args
from ..tensor import Tensor, _trace
from . import functional as F
from . import init
from ._utils import check_device_dtype, ntuple, positive_int
from .module import Module
from .parameter import Parameter

__all__ = ["Conv1d", "Conv2d"]

# Packed weights kept per layer: one per algorithm, and the heuristic picks at most two for
# one layer (Winograd or im2col, by input size), so varying input shapes cannot grow memory
# past about 2.8x the weights (Winograd's 16/9 plus im2col's copy); a third algorithm
# (forced) evicts the oldest.
_MAX_PACKS = 2
_MAX_ALGORITHM_MEMO = 8  # input shapes whose algorithm choice a layer remembers


class _Pack:
    """Weights packed for one algorithm, valid while the weight is the same object at the same version."""

    __slots__ = ("weight", "version", "packed")

    def __init__(self, weight, packed):
        self.weight, self.version, self.packed = weakref.ref(weight), weight._version, packed

    def valid_for(self, weight) -> bool:
        return self.weight() is weight and self.version == weight._version


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

    # ---- inference with pre-packed weights --------------------------------------------------

    def train(self, mode: bool = True):
        self.__dict__.pop("_packs", None)
        return super().train(mode)

    def __getstate__(self):
        state = self.__dict__.copy()  # pickle and deepcopy leave the packs behind
        state.pop("_packs", None)
        state.pop("_algorithm_memo", None)
        return state

    def _packed_forward(self, input, activation=None):
        """The forward pass with pre-packed weights, as a Tensor; None where it does not apply
        (training, a graph to record, an ONNX trace, or input the regular path must reject)."""
        w, b = self.weight, self.bias
        if self.training or _trace.tracer is not None or not isinstance(input, Tensor) or w is None:
            return None
        if is_grad_enabled() and (input.requires_grad or w.requires_grad or (b is not None and b.requires_grad)):
            return None
        if input.dtype != np.float32 or w.dtype != np.float32 or input.ndim not in (w.ndim, w.ndim - 1):
            return None
        x = input._data if input.ndim == w.ndim else input._data[None]
        if x.shape[1] != self.in_channels:
            return None  # the regular path raises its error
        if self._dims == 1:
            x, w4, stride, padding, dilation = _as_2d_args("conv1d", x, w._data, self.stride, self.padding,
                                                           self.dilation)
        else:
            w4, stride, padding, dilation = w._data, self.stride, self.padding, self.dilation
        try:
            hash((stride, padding, dilation, self.groups))
        except TypeError:
            return None  # e.g. a list assigned to .padding: the cache cannot key it, the regular path runs
        packed = self._packs_for(x.shape, w, w4, stride, padding, dilation)
        y = ops.conv2d_packed(x, packed, None if b is None else b._data, activation=activation)
        if self._dims == 1:
            y = y[:, :, 0, :]
        return Tensor._wrap(y if input.ndim == w.ndim else y[0])

    def _packs_for(self, input_shape, weight, w4, stride, padding, dilation):
        geometry = (w4.shape, stride, padding, dilation, self.groups)
        name = _algorithm("conv2d", None)  # force_conv_algorithm applies here too
        if name == "auto":
            memo = self.__dict__.setdefault("_algorithm_memo", {})
            name = memo.get((input_shape, geometry))
            if name is None:
                if len(memo) >= _MAX_ALGORITHM_MEMO:
                    memo.clear()
                name = memo[(input_shape, geometry)] = ops.conv2d_packed_algorithm(
                    input_shape, w4.shape, stride, padding, dilation, self.groups)
        key = (name, geometry)  # a changed stride or padding must not find the old pack
        packs = self.__dict__.get("_packs", {})
        entry = packs.get(key)
        if entry is not None and entry.valid_for(weight):
            return entry.packed
        packed = ops.conv2d_prepack(w4, stride, padding, dilation, self.groups, algorithm=name)
        # A new dict replaces the old one whole, so a thread reading the old one never sees it change.
        fresh = {k: e for k, e in packs.items() if k != key and e.valid_for(weight)}  # drop stale versions
        while len(fresh) >= _MAX_PACKS:
            del fresh[next(iter(fresh))]  # the oldest
        fresh[key] = _Pack(weight, packed)
        self.__dict__["_packs"] = fresh
        return packed

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
        out = self._packed_forward(input)
        if out is not None:
            return out
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """Input (N, in_channels, H, W) or (in_channels, H, W)."""

    _dims = 2

    def forward(self, input):
        out = self._packed_forward(input)
        if out is not None:
            return out
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
