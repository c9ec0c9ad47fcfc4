"""MobileNets. mobilenet_v2 (Sandler et al. 2018) in torchvision's layout and state_dict keys: features
(Conv-BN-ReLU6 stem, 17 inverted residual blocks: 1x1 expand, 3x3 depthwise, 1x1 linear projection,
a skip where shapes match; 1x1 to 1280), classifier (dropout, Linear); 3,504,872 parameters.
mobilenet_v1 (Howard et al. 2017): a 3x3 stride-2 conv then 13 depthwise separable blocks (3x3
depthwise + 1x1 pointwise, each followed by batch norm and ReLU), global average pool, Linear;
4,231,976 parameters for 1000 classes (the paper's 4.2M). Both take width_mult."""

from __future__ import annotations

from .. import nn
from ..nn import functional as F
from ._common import Conv2dNormActivation, positive_int

__all__ = ["MobileNetV1", "MobileNetV2", "mobilenet_v1", "mobilenet_v2"]


def _make_divisible(v, divisor=8, min_value=None):
    """Round channels to a multiple of 8, never down by more than 10% (torchvision's rule)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _init_mobilenet(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden_dim, kernel_size=1, activation_layer=nn.ReLU6))
        layers += [Conv2dNormActivation(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim,
                                        activation_layer=nn.ReLU6),
                   nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
                   nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes=1000, width_mult=1.0, round_nearest=8, dropout=0.2, in_channels=3):
        super().__init__()
        num_classes = positive_int(num_classes, "mobilenet_v2", "num_classes")
        in_channels = positive_int(in_channels, "mobilenet_v2", "in_channels")
        if not width_mult > 0:
            raise ValueError(f"mobilenet_v2: width_mult must be positive, got {width_mult!r}")
        settings = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                    [6, 320, 1, 1]]  # expansion t, channels c, repeats n, first stride s
        input_channel = _make_divisible(32 * width_mult, round_nearest)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features = [Conv2dNormActivation(in_channels, input_channel, stride=2, activation_layer=nn.ReLU6)]
        for t, c, n, s in settings:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, t))
                input_channel = output_channel
        features.append(Conv2dNormActivation(input_channel, self.last_channel, kernel_size=1,
                                             activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes))
        _init_mobilenet(self)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1)).flatten(1)
        return self.classifier(x)


class DepthwiseSeparable(nn.Sequential):
    """3x3 depthwise conv-BN-ReLU (keys 0.*) then 1x1 pointwise conv-BN-ReLU (keys 1.*)."""

    def __init__(self, inp, oup, stride):
        super().__init__(Conv2dNormActivation(inp, inp, 3, stride, groups=inp),
                         Conv2dNormActivation(inp, oup, 1))


class MobileNetV1(nn.Module):
    def __init__(self, num_classes=1000, width_mult=1.0, dropout=0.0, in_channels=3):
        super().__init__()
        num_classes = positive_int(num_classes, "mobilenet_v1", "num_classes")
        in_channels = positive_int(in_channels, "mobilenet_v1", "in_channels")
        if not width_mult > 0:
            raise ValueError(f"mobilenet_v1: width_mult must be positive, got {width_mult!r}")

        def ch(c):
            return max(8, int(c * width_mult))
        blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + \
                 [(1024, 2), (1024, 1)]
        features = [Conv2dNormActivation(in_channels, ch(32), 3, 2)]
        inp = ch(32)
        for c, s in blocks:
            features.append(DepthwiseSeparable(inp, ch(c), s))
            inp = ch(c)
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(inp, num_classes))
        _init_mobilenet(self)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def mobilenet_v1(num_classes=1000, **kw) -> MobileNetV1:
    return MobileNetV1(num_classes, **kw)


def mobilenet_v2(num_classes=1000, **kw) -> MobileNetV2:
    return MobileNetV2(num_classes, **kw)
