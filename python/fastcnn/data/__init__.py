"""fastcnn.data: datasets (MNIST, Fashion-MNIST, ImageFolder, TensorDataset), DataLoader,
transforms and the IDX file format."""

from . import transforms  # noqa: F401
from .datasets import MNIST, Dataset, FashionMNIST, ImageFolder, TensorDataset  # noqa: F401
from .download import download_file, sha256_of  # noqa: F401
from .idx import read_idx, write_idx  # noqa: F401
from .loader import DataLoader, default_collate  # noqa: F401

__all__ = ["Dataset", "TensorDataset", "MNIST", "FashionMNIST", "ImageFolder", "DataLoader", "default_collate",
           "transforms", "read_idx", "write_idx", "download_file", "sha256_of"]
