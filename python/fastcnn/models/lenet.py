"""LeNet-5 (LeCun et al. 1998) on 32x32 input: C1 conv 6@5x5 -> S2 pool -> C3 conv 16@5x5 -> S4 pool ->
C5 conv 120@5x5 (1x1 output) -> F6 84 -> 10 outputs. variant="original": tanh and average pooling
(the subsampling layers without their trainable coefficients, the usual modern reading);
variant="modern": ReLU and max pooling. 61,706 parameters for 10 classes, 1 channel."""

from __future__ import annotations

from .. import nn
from ._common import positive_int

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 1, variant: str = "original"):
        super().__init__()
        num_classes = positive_int(num_classes, "lenet5", "num_classes")
        in_channels = positive_int(in_channels, "lenet5", "in_channels")
        if variant not in ("original", "modern"):
            raise ValueError(f"lenet5: variant must be 'original' or 'modern', got {variant!r}")
        act = nn.Tanh if variant == "original" else nn.ReLU
        pool = nn.AvgPool2d if variant == "original" else nn.MaxPool2d
        self.variant = variant
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), act(), pool(2, 2),   # C1 28x28x6, S2 14x14x6
            nn.Conv2d(6, 16, 5), act(), pool(2, 2),            # C3 10x10x16, S4 5x5x16
            nn.Conv2d(16, 120, 5), act(),                      # C5 1x1x120
        )
        self.classifier = nn.Sequential(nn.Linear(120, 84), act(), nn.Linear(84, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def lenet5(num_classes: int = 10, in_channels: int = 1, variant: str = "original") -> LeNet5:
    return LeNet5(num_classes, in_channels, variant)
