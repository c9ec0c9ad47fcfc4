"""fastcnn.models: classic CNNs with torchvision's module structure and state_dict keys.

get_model(name, **kwargs) builds one by name; list_models() lists the names."""

from __future__ import annotations

from .alexnet import AlexNet, alexnet
from .densenet import DenseNet, densenet121
from .googlenet import GoogLeNet, GoogLeNetOutputs, googlenet
from .inception import Inception3, InceptionOutputs, inception_v3
from .lenet import LeNet5, lenet5
from .mobilenet import MobileNetV1, MobileNetV2, mobilenet_v1, mobilenet_v2
from .resnet import (CifarResNet, ResNet, resnet8, resnet18, resnet20, resnet32, resnet34, resnet44, resnet50,
                     resnet56, resnet101, resnet152)
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn, vgg_small

_MODELS = {f.__name__: f for f in (
    lenet5, alexnet, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn, vgg_small,
    googlenet, inception_v3, resnet18, resnet34, resnet50, resnet101, resnet152,
    resnet8, resnet20, resnet32, resnet44, resnet56, densenet121, mobilenet_v1, mobilenet_v2)}


def list_models() -> list[str]:
    """Names get_model accepts, sorted."""
    return sorted(_MODELS)


def get_model(name: str, weights=None, **kwargs):
    """Build the model called `name` (see list_models()) with the builder's keyword arguments.

    weights: None (random init), a file path (see fastcnn.load), or a pretrained weight name such as
    "DEFAULT" or "IMAGENET1K_V1" (see models.weights.MANIFEST; downloaded once, then cached)."""
    if not isinstance(name, str):
        raise TypeError(f"get_model: name must be a str, got {type(name).__name__}")
    builder = _MODELS.get(name.lower())
    if builder is None:
        raise ValueError(f"get_model: unknown model {name!r}; available: {', '.join(list_models())}")
    if weights is not None:
        from .weights import build_with_weights
        return build_with_weights(name.lower(), builder, weights, kwargs)
    return builder(**kwargs)


__all__ = ["get_model", "list_models", "AlexNet", "CifarResNet", "DenseNet", "GoogLeNet", "GoogLeNetOutputs",
           "Inception3", "InceptionOutputs", "LeNet5", "MobileNetV1", "MobileNetV2", "ResNet", "VGG",
           *_MODELS]
