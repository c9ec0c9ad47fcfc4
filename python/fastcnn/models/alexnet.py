"""AlexNet. variant="torchvision": torchvision's single-tower layout (64/192/384/256/256 filters, adaptive
6x6 average pool, 61,100,840 parameters) with its state_dict keys. variant="original": the 2012 layout
(Krizhevsky et al.) on 227x227 input: 96 filters 11x11 stride 4 (55x55x96, 34,944 parameters), local
response normalisation after conv1 and conv2 (size 5, alpha 1e-4, beta 0.75, k 2), 256/384/384/256
filters, 6x6x256 -> 4096 -> 4096 -> classes. The two-GPU split (groups=2 in conv2/4/5) is not modelled:
this is the single-tower form of the published tables, 62,378,344 parameters for 1000 classes."""

from __future__ import annotations

from .. import nn
from ._common import positive_int

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, in_channels: int = 3,
                 variant: str = "torchvision"):
        super().__init__()
        num_classes = positive_int(num_classes, "alexnet", "num_classes")
        in_channels = positive_int(in_channels, "alexnet", "in_channels")
        self.variant = variant
        if variant == "torchvision":
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
                nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
                nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
            )
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        elif variant == "original":
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, 96, 11, 4), nn.ReLU(),            # 55x55x96
                nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), nn.MaxPool2d(3, 2),         # 27x27x96
                nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(),              # 27x27x256
                nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), nn.MaxPool2d(3, 2),         # 13x13x256
                nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
                nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
                nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),  # 6x6x256
            )
            self.avgpool = nn.Identity()  # 227x227 input gives 6x6 exactly
        else:
            raise ValueError(f"alexnet: variant must be 'torchvision' or 'original', got {variant!r}")
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        if x.ndim != 4 or x.shape[1:] != (256, 6, 6):
            raise ValueError(f"alexnet(variant='original'): expected 227x227 input (6x6x256 features), "
                             f"got features of shape {tuple(x.shape)}")
        return self.classifier(x.flatten(1))


def alexnet(num_classes: int = 1000, dropout: float = 0.5, in_channels: int = 3,
            variant: str = "torchvision") -> AlexNet:
    return AlexNet(num_classes, dropout, in_channels, variant)
