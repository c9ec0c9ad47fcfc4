"""fastcnn.fuse(model): fold eval-mode batch norms into the convolution or Linear before them, and
fuse a following ReLU into the convolution's kernel (its GEMM epilogue), for inference.

Semantics follow torch.ao.quantization.fuse_modules / torch.fx's conv-bn fusion:
    w' = w * gamma / sqrt(var + eps),    b' = (b - mean) * gamma / sqrt(var + eps) + beta
and the batch norm (and a fused ReLU) become nn.Identity, so state_dict keys of the layers that
stay are unchanged. Pairs are found where the data flow is certain without tracing:
- adjacent children of a plain nn.Sequential (VGG-bn, MobileNet, ResNet downsample, ...);
- the named pairs of the zoo's blocks, listed in _NAMED_PAIRS (ResNet conv1/bn1 ..., BasicConv2d);
- any extra (conv, bn) pairs of dotted names the caller passes in modules_to_fuse.
A batch norm before a convolution (DenseNet) cannot fold into it and is left alone.
ReLU fusion: an nn.ReLU module right after a Conv1d/Conv2d (or its folded batch norm) in a plain
Sequential becomes part of a ConvReLU1d/ConvReLU2d (VGG, MobileNetV1, LeNet-5 modern); ReLUs called
functionally or shared inside a block's forward (ResNet, BasicConv2d) and ReLU6 stay as they are.
"""

from __future__ import annotations

import copy

import numpy as np

from . import nn, ops
from .tensor import Tensor, _record

__all__ = ["fuse", "fuse_conv_bn_weights", "ConvReLU1d", "ConvReLU2d"]

_BN_FOR = {nn.Conv2d: nn.BatchNorm2d, nn.Conv1d: nn.BatchNorm1d, nn.Linear: nn.BatchNorm1d}


def _named_pairs():
    """Block class -> (conv, bn) child names whose forward computes bn(conv(x)) with nothing between."""
    from .models.googlenet import BasicConv2d
    from .models.resnet import BasicBlock, Bottleneck, CifarBasicBlock, CifarResNet, ResNet
    return {
        ResNet: [("conv1", "bn1")],
        CifarResNet: [("conv1", "bn1")],
        BasicBlock: [("conv1", "bn1"), ("conv2", "bn2")],
        CifarBasicBlock: [("conv1", "bn1"), ("conv2", "bn2")],
        Bottleneck: [("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")],
        BasicConv2d: [("conv", "bn")],
    }


# ---- the fold ---------------------------------------------------------------------------------

def fuse_conv_bn_weights(weight, bias, running_mean, running_var, eps, gamma=None, beta=None):
    """(w', b') as float32 arrays: the batch norm's eval-mode affine map folded into a layer whose
    output channels are weight's first axis (Conv1d/Conv2d/Linear). Computed in float64."""
    w = np.asarray(weight, np.float64)
    k = w.shape[0]
    mean, var = np.asarray(running_mean, np.float64), np.asarray(running_var, np.float64)
    g = np.ones(k) if gamma is None else np.asarray(gamma, np.float64)
    beta = np.zeros(k) if beta is None else np.asarray(beta, np.float64)
    b = np.zeros(k) if bias is None else np.asarray(bias, np.float64)
    scale = g / np.sqrt(var + eps)
    w_fused = w * scale.reshape((k,) + (1,) * (w.ndim - 1))
    return w_fused.astype(np.float32), ((b - mean) * scale + beta).astype(np.float32)


def _data(t):
    return None if t is None else t._data


def _foldable(layer, bn) -> bool:
    bn_type = _BN_FOR.get(type(layer))
    if bn_type is None or type(bn) is not bn_type:
        return False
    out = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
    # Without running statistics a batch norm normalizes with the batch's: nothing to fold.
    return bn.num_features == out and bn.running_mean is not None and bn.running_var is not None


def _fold(layer, bn) -> None:
    w, b = fuse_conv_bn_weights(_data(layer.weight), _data(layer.bias), _data(bn.running_mean),
                                _data(bn.running_var), bn.eps, _data(bn.weight), _data(bn.bias))
    requires_grad = layer.weight.requires_grad
    layer.weight = nn.Parameter(w, requires_grad=requires_grad)
    layer.bias = nn.Parameter(b, requires_grad=requires_grad)  # a conv with bias=False gains one


# ---- conv + ReLU in one kernel call -----------------------------------------------------------

class _ConvReLUMixin:
    """Conv followed by ReLU in one pass: ops.conv2d/conv1d(activation="relu"), whose backward masks
    the gradient with the saved output. Same parameters and state_dict keys as the conv it replaces."""

    _fwd = _bwd = None

    @classmethod
    def from_conv(cls, conv):
        fused = cls.__new__(cls)
        fused.__dict__.update(conv.__getstate__())  # the same parameters and settings (no packed weights)
        for store in ("_parameters", "_buffers", "_modules", "_non_persistent_buffers_set"):
            object.__setattr__(fused, store, copy.copy(conv.__dict__[store]))  # own registries
        return fused

    def forward(self, input):
        x, w, b = input, self.weight, self.bias
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__}: input must be a fastcnn.Tensor, got {type(x).__name__}")
        if x.ndim == w.ndim - 1:  # unbatched, as Conv*d accepts
            return self.forward(x.unsqueeze(0))[0]
        packed = self._packed_forward(x, activation="relu")  # eval mode, no graph: pre-packed weights
        if packed is not None:
            return packed
        args = (self.stride, self.padding, self.dilation, self.groups)
        fwd, bwd = type(self)._fwd, type(self)._bwd
        out = fwd(x._data, w._data, _data(b), *args, activation="relu")

        def backward(g):
            return bwd(g, x._data, w._data, *args, activation="relu", output=out,
                       output_mask=(x.requires_grad, w.requires_grad, b is not None and b.requires_grad))
        return _record("ConvolutionReluBackward", out, (x, w, b), backward, saved=(x, w))


class ConvReLU2d(_ConvReLUMixin, nn.Conv2d):
    """Conv2d then ReLU, fused (torch.ao.nn.intrinsic.ConvReLU2d's role)."""

    _fwd, _bwd = staticmethod(ops.conv2d), staticmethod(ops.conv2d_backward)


class ConvReLU1d(_ConvReLUMixin, nn.Conv1d):
    """Conv1d then ReLU, fused."""

    _fwd, _bwd = staticmethod(ops.conv1d), staticmethod(ops.conv1d_backward)


_CONV_RELU = {nn.Conv2d: ConvReLU2d, nn.Conv1d: ConvReLU1d}


# ---- walking the model ------------------------------------------------------------------------

def _fuse_sequential(seq) -> int:
    names = list(seq._modules)
    done = 0
    i = 0
    while i < len(names):
        layer = seq._modules[names[i]]
        if type(layer) not in _BN_FOR:
            i += 1
            continue
        j = i + 1
        if j < len(names) and _foldable(layer, seq._modules[names[j]]):
            _fold(layer, seq._modules[names[j]])
            setattr(seq, names[j], nn.Identity())
            done += 1
            j += 1
        if j < len(names) and type(seq._modules[names[j]]) is nn.ReLU and type(layer) in _CONV_RELU:
            setattr(seq, names[i], _CONV_RELU[type(layer)].from_conv(layer))
            setattr(seq, names[j], nn.Identity())
            j += 1
        i = j
    return done


def _resolve(model, dotted: str):
    parent_name, _, child = dotted.rpartition(".")
    parent = model
    for part in parent_name.split(".") if parent_name else []:
        sub = parent._modules.get(part)
        if sub is None:
            raise ValueError(f"fuse: modules_to_fuse names {dotted!r}, but {type(parent).__name__} has no child "
                             f"{part!r} (children: {', '.join(parent._modules) or 'none'})")
        parent = sub
    if parent._modules.get(child) is None:
        raise ValueError(f"fuse: modules_to_fuse names {dotted!r}, but {type(parent).__name__} has no child "
                         f"{child!r} (children: {', '.join(parent._modules) or 'none'})")
    return parent, child


def fuse(model, inplace: bool = False, *, modules_to_fuse=None):
    """Fold BatchNorm into the Conv1d/Conv2d/Linear before it and fuse a following nn.ReLU into a
    convolution (see the module docstring for where pairs are found); returns the fused model.

    The model must be in eval mode (ValueError otherwise, as torch's fuse_modules): folding bakes in
    the running statistics, which training mode would not use. inplace=False fuses a deep copy and
    leaves `model` untouched. modules_to_fuse: extra [conv_name, bn_name] pairs of dotted names, for
    blocks of your own whose forward computes bn(conv(x)).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"fuse: model must be a fastcnn.nn.Module, got {type(model).__name__}")
    if model.training:
        raise ValueError("fuse: model is in training mode; call model.eval() first (folding uses the "
                         "batch norms' running statistics, which training mode does not)")
    extra = []
    for pair in modules_to_fuse or []:
        if isinstance(pair, str) or len(pair) != 2:
            raise ValueError(f"fuse: each modules_to_fuse entry must be a [conv_name, bn_name] pair, got {pair!r}")
        extra.append(tuple(pair))
    if not inplace:
        model = copy.deepcopy(model)
    named = _named_pairs()
    for _, module in list(model.named_modules()):
        for conv_name, bn_name in named.get(type(module), []):
            conv, bn = module._modules.get(conv_name), module._modules.get(bn_name)
            if conv is not None and bn is not None and _foldable(conv, bn):
                _fold(conv, bn)
                setattr(module, bn_name, nn.Identity())
        if isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward:
            _fuse_sequential(module)
    for conv_name, bn_name in extra:
        (cp, cn), (bp, bn_child) = _resolve(model, conv_name), _resolve(model, bn_name)
        conv, bn = cp._modules[cn], bp._modules[bn_child]
        if not _foldable(conv, bn):
            raise ValueError(f"fuse: cannot fold {bn_name} ({type(bn).__name__}) into {conv_name} "
                             f"({type(conv).__name__}): need Conv2d+BatchNorm2d, Conv1d/Linear+BatchNorm1d with "
                             "matching channels and running statistics")
        _fold(conv, bn)
        setattr(bp, bn_child, nn.Identity())
    return model

