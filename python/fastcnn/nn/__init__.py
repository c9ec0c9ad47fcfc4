"""fastcnn.nn: layers (Modules), losses, init and the functional ops, with torch.nn's names."""

from . import functional, init  # noqa: F401
from .activation import Hardtanh, LeakyReLU, LogSoftmax, ReLU, ReLU6, Sigmoid, Softmax, Tanh
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv1d, Conv2d
from .dropout import Dropout
from .linear import Flatten, Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .normalization import BatchNorm1d, BatchNorm2d, LocalResponseNorm
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "functional", "init", "Module", "Parameter",
    "Conv1d", "Conv2d", "Linear", "Identity", "Flatten",
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "LocalResponseNorm", "Dropout",
    "ReLU", "LeakyReLU", "Hardtanh", "ReLU6", "Tanh", "Sigmoid", "Softmax", "LogSoftmax",
    "Sequential", "ModuleList", "ModuleDict",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss",
]
