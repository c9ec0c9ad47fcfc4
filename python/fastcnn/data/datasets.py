"""Datasets: MNIST and Fashion-MNIST (IDX files), ImageFolder (Pillow), TensorDataset.

As torchvision: `dataset[i]` is (transform(image), int label) with the raw image a uint8
(H, W) array (HWC for colour), `.data` the uint8 (N, 28, 28) images and `.targets` the
int64 labels. Array datasets also have `get_batch(indices, generator)`: the stacked
images of a whole batch with the transform applied once to the batch (transforms.py),
which is what DataLoader uses, so a batch costs no Python work per sample.
"""

from __future__ import annotations

import os

import numpy as np

from . import download as _download
from .idx import read_idx

__all__ = ["Dataset", "TensorDataset", "MNIST", "FashionMNIST", "ImageFolder", "default_search_dirs"]


class Dataset:
    """A map-style dataset: __getitem__(i) and __len__()."""

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


def _apply(transform, x, generator, batch: bool):
    """Calls one of our transforms with the generator (batch form if asked), else a plain callable."""
    if transform is None:
        return x
    if batch:
        return transform.batch(x, generator=generator)
    if getattr(transform, "takes_generator", False):
        return transform(x, generator=generator)
    return transform(x)


def _batchable(transform) -> bool:
    return transform is None or callable(getattr(transform, "batch", None))


def _as_array(x):
    return x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else np.asarray(x)


class TensorDataset(Dataset):
    """Samples are the i-th rows of equally long arrays (NumPy arrays or fastcnn Tensors)."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one array")
        self.tensors = tuple(_as_array(t) for t in tensors)
        for i, t in enumerate(self.tensors):
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensors[{i}] is 0-dimensional; each needs a first (sample) dimension")
        lengths = [len(t) for t in self.tensors]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: all tensors must have the same first dimension, got {lengths}")

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def get_batch(self, indices, generator=None):
        return tuple(t[indices] for t in self.tensors)


def default_search_dirs(root, system_dir: str, name: str) -> list[str]:
    """Where a dataset's files are looked for, in order."""
    dirs = []
    if root is not None:
        root = os.path.expanduser(os.fspath(root))
        dirs += [root, os.path.join(root, name), os.path.join(root, name, "raw")]
    env = os.environ.get("FASTCNN_DATA")
    if env:
        dirs += [env, os.path.join(env, name)]
    if system_dir:
        dirs.append(system_dir)
    dirs.append(os.path.join(os.path.expanduser("~"), ".cache", "fastcnn", name))
    return dirs


class _IdxDataset(Dataset):
    """The MNIST file layout: four IDX files, gzipped or not, found or downloaded."""

    name = ""
    system_dir = ""
    classes: list[str] = []
    mirrors: tuple[str, ...] = ()
    sha256: dict[str, str] = {}
    _files = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

    def __init__(self, root=None, train: bool = True, transform=None, target_transform=None,
                 download: bool = False, mirrors=None, sha256=None):
        self.root = root
        self.train = bool(train)
        self.transform = transform
        self.target_transform = target_transform
        mirrors = self.mirrors if mirrors is None else tuple(mirrors)
        sha256 = self.sha256 if sha256 is None else dict(sha256)
        images_path, labels_path = self._locate(download, mirrors, sha256)
        images, labels = read_idx(images_path), read_idx(labels_path)
        cls = type(self).__name__
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ValueError(f"{cls}: {images_path} holds {images.dtype} of shape {images.shape}, "
                             "expected uint8 images (N, H, W)")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"{cls}: {labels_path} holds labels of shape {labels.shape}, expected ({len(images)},)")
        self.data = images
        self.targets = labels.astype(np.int64)

    def _locate(self, download, mirrors, sha256):
        dirs = default_search_dirs(self.root, self.system_dir, self.name)
        stems = self._files[self.train]
        for d in dirs:
            found = [self._find(d, stem) for stem in stems]
            if all(found):
                return found
        cls = type(self).__name__
        if download:
            target = (os.path.join(os.path.expanduser(os.fspath(self.root)), self.name) if self.root is not None
                      else dirs[-1])
            paths = []
            for stem in stems:
                filename = stem + ".gz"
                if filename not in sha256:
                    raise ValueError(f"{cls}: no SHA-256 digest given for {filename}")
                existing = self._find(target, stem)
                paths.append(existing or _download.download_file(filename, target, mirrors, sha256[filename]))
            return paths
        looked = "\n  ".join(dirs)
        raise FileNotFoundError(
            f"{cls}: {stems[0]}[.gz] and {stems[1]}[.gz] not found; looked in:\n  {looked}\n"
            f"Get the data with `apt-get install dataset-fashion-mnist` (Fashion-MNIST), set $FASTCNN_DATA "
            f"or root= to a folder holding the files, or pass download=True.")

    @staticmethod
    def _find(directory, stem):
        for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")):
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                return path
        return None

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        return self.get_item(index)

    def get_item(self, index, generator=None):
        image = self.data[index]
        target = int(self.targets[index])
        if self.transform is not None:
            image = _apply(self.transform, image, generator, batch=False)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def get_batch(self, indices, generator=None):
        """(images, labels) for an index array: images (B, H, W) uint8 with no transform,
        else transform.batch applied to them; labels int64 (B,). None when the transforms
        have no batch form (callers then go sample by sample)."""
        if not _batchable(self.transform) or self.target_transform is not None:
            return None
        images = self.data[indices]
        return _apply(self.transform, images, generator, batch=True), self.targets[indices]

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}


class MNIST(_IdxDataset):
    """The MNIST handwritten digits (60,000 train / 10,000 test 28x28 uint8 images)."""

    name = "MNIST"
    system_dir = "/usr/share/datasets/mnist"
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]
    mirrors = _download.MNIST_MIRRORS
    sha256 = _download.MNIST_SHA256


class FashionMNIST(_IdxDataset):
    """Zalando's Fashion-MNIST (same layout as MNIST); Debian: dataset-fashion-mnist."""

    name = "FashionMNIST"
    system_dir = "/usr/share/datasets/fashion-mnist"
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
    mirrors = _download.FASHION_MNIST_MIRRORS
    sha256 = _download.FASHION_MNIST_SHA256


IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _pil_image():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("ImageFolder needs Pillow to read images: pip install pillow") from None
    return Image


class ImageFolder(Dataset):
    """root/<class>/<image>: classes are the sorted subfolder names, as torchvision.

    Images load as uint8 arrays: (H, W, 3) with mode="RGB" (the default, as torchvision),
    or as stored ("L" images (H, W), others RGB) with mode=None.
    """

    def __init__(self, root, transform=None, target_transform=None, extensions=IMG_EXTENSIONS, mode="RGB"):
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"ImageFolder: root {self.root!r} is not a directory")
        if mode not in ("RGB", "L", None):
            raise ValueError(f"ImageFolder: mode must be 'RGB', 'L' or None, got {mode!r}")
        self.transform = transform
        self.target_transform = target_transform
        self.mode = mode
        self.extensions = tuple(e.lower() for e in extensions)
        self.classes = sorted(e.name for e in os.scandir(self.root) if e.is_dir())
        if not self.classes:
            raise FileNotFoundError(f"ImageFolder: no class subfolders in {self.root!r}")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in self.classes:
            for dirpath, _, files in sorted(os.walk(os.path.join(self.root, c), followlinks=True)):
                for f in sorted(files):
                    if f.lower().endswith(self.extensions):
                        self.samples.append((os.path.join(dirpath, f), self.class_to_idx[c]))
        if not self.samples:
            raise FileNotFoundError(f"ImageFolder: no images with extensions {self.extensions} under {self.root!r}")
        self.imgs = self.samples
        self.targets = [t for _, t in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, path) -> np.ndarray:
        Image = _pil_image()
        with Image.open(path) as img:
            if self.mode is not None:
                img = img.convert(self.mode)
            elif img.mode not in ("L", "RGB"):
                img = img.convert("RGB")
            return np.asarray(img, dtype=np.uint8).copy()

    def __getitem__(self, index):
        return self.get_item(index)

    def get_item(self, index, generator=None):
        path, target = self.samples[index]
        image = self.load(path)
        if self.transform is not None:
            image = _apply(self.transform, image, generator, batch=False)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target
