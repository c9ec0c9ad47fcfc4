"""VGG-11/13/16/19 (Simonyan & Zisserman 2014), with and without batch norm, in torchvision's layout:
features (3x3 convs, padding 1, 2x2 max pools), avgpool (adaptive 7x7), classifier 25088 -> 4096 ->
4096 -> classes. VGG-16: 138,357,544 parameters. vgg_small: a CIFAR/MNIST-sized VGG for 28x28 or 32x32
input (32-32-M-64-64-M-128-128-M with batch norm, global average pool, one Linear; same key layout)."""

from __future__ import annotations

from .. import nn
from ._common import positive_int

__all__ = ["VGG", "make_layers", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
           "vgg19_bn", "vgg_small"]

cfgs = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
    "small": [32, 32, "M", 64, 64, "M", 128, 128, "M"],
}


def make_layers(cfg, batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU())
            in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, features, num_classes: int = 1000, init_weights: bool = True, dropout: float = 0.5):
        super().__init__()
        num_classes = positive_int(num_classes, "vgg", "num_classes")
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            _init_vgg(self)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


class _SmallVGG(nn.Module):
    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()
        num_classes = positive_int(num_classes, "vgg_small", "num_classes")
        in_channels = positive_int(in_channels, "vgg_small", "in_channels")
        self.features = make_layers(cfgs["small"], True, in_channels)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(128, num_classes))
        _init_vgg(self)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def _init_vgg(model) -> None:
    # torchvision's: He-normal (fan_out) convs, unit batch norm, N(0, 0.01) linears, zero biases.
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.constant_(m.bias, 0)


def _vgg(cfg, batch_norm, num_classes, in_channels, **kwargs) -> VGG:
    in_channels = positive_int(in_channels, "vgg", "in_channels")
    return VGG(make_layers(cfgs[cfg], batch_norm, in_channels), num_classes, **kwargs)


def vgg11(num_classes=1000, in_channels=3, **kw): return _vgg("A", False, num_classes, in_channels, **kw)
def vgg11_bn(num_classes=1000, in_channels=3, **kw): return _vgg("A", True, num_classes, in_channels, **kw)
def vgg13(num_classes=1000, in_channels=3, **kw): return _vgg("B", False, num_classes, in_channels, **kw)
def vgg13_bn(num_classes=1000, in_channels=3, **kw): return _vgg("B", True, num_classes, in_channels, **kw)
def vgg16(num_classes=1000, in_channels=3, **kw): return _vgg("D", False, num_classes, in_channels, **kw)
def vgg16_bn(num_classes=1000, in_channels=3, **kw): return _vgg("D", True, num_classes, in_channels, **kw)
def vgg19(num_classes=1000, in_channels=3, **kw): return _vgg("E", False, num_classes, in_channels, **kw)
def vgg19_bn(num_classes=1000, in_channels=3, **kw): return _vgg("E", True, num_classes, in_channels, **kw)


def vgg_small(num_classes: int = 10, in_channels: int = 1):
    """A small VGG for 28x28 (MNIST) or 32x32 (CIFAR) input."""
    return _SmallVGG(num_classes, in_channels)
