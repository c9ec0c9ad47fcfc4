"""Reads a PyTorch zip checkpoint (torch.save since 1.6) without torch and without running its code.

A torch file is a zip: <prefix>/data.pkl is a pickle whose tensors are calls of
torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...), each storage a persistent id
("storage", torch.FloatStorage, key, location, numel) whose bytes are <prefix>/data/<key>.
The unpickler below resolves only those few globals, to fastcnn's own stand-ins; any other
global is refused before anything from the file could be called."""

from __future__ import annotations

import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np

from .serialization import SerializationError

__all__ = ["read_torch_file"]


class _StorageType:
    """Stand-in for torch.<Name>Storage: only knows its element type."""

    def __init__(self, name: str, dtype: str):
        self.name, self.dtype = name, np.dtype(dtype)


_STORAGES = {name: _StorageType(name, dt) for name, dt in {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "<u2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?"}.items()}


class _Storage:
    def __init__(self, kind: _StorageType, flat: np.ndarray):
        self.kind, self.flat = kind, flat


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError(f"_rebuild_tensor_v2: expected a storage, got {type(storage).__name__}")
    if not (isinstance(storage_offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)
            and len(size) == len(stride) and all(isinstance(v, int) and v >= 0 for v in (*size, *stride))
            and storage_offset >= 0):
        raise pickle.UnpicklingError(f"_rebuild_tensor_v2: bad offset/size/stride {storage_offset!r} "
                                     f"{size!r} {stride!r}")
    flat = storage.flat
    if all(size):  # a non-empty view must end inside its storage
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= flat.size:
            raise pickle.UnpicklingError(f"tensor of size {size} stride {stride} at offset {storage_offset} "
                                         f"reads element {last} of a storage of {flat.size}")
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(flat[storage_offset:], shape=size,
                                               strides=tuple(s * item for s in stride), writeable=False)
        array = view.astype(flat.dtype.newbyteorder("="), copy=True)
    else:
        array = np.zeros(size, dtype=flat.dtype.newbyteorder("="))
    if storage.kind.name == "BFloat16Storage":  # bfloat16 is the top half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


_ALLOWED = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
            ("collections", "OrderedDict"): OrderedDict,
            **{("torch", name): kind for name, kind in _STORAGES.items()}}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data_pkl, archive: zipfile.ZipFile, prefix: str, byteorder: str, path: str):
        super().__init__(data_pkl)
        self._zip, self._prefix, self._byteorder, self._path = archive, prefix, byteorder, path
        self._storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise pickle.UnpicklingError(
                f"{self._path}: refusing to load global {module}.{name}: fastcnn's PyTorch reader allows only "
                "tensors, parameters, storages and OrderedDict (the file may run code if loaded with pickle)"
            ) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise pickle.UnpicklingError(f"{self._path}: unsupported persistent id {pid!r}")
        _, kind, key, _location, numel = pid
        if key not in self._storages:
            member = f"{self._prefix}data/{key}"
            try:
                raw = self._zip.read(member)
            except KeyError:
                raise SerializationError(f"load({self._path!r}): storage {key!r} is missing ({member})") from None
            dtype = kind.dtype.newbyteorder(self._byteorder)
            if len(raw) < numel * dtype.itemsize:
                raise SerializationError(f"load({self._path!r}): storage {key!r} has {len(raw)} bytes, "
                                         f"{numel} x {kind.name} needs {numel * dtype.itemsize}")
            self._storages[key] = _Storage(kind, np.frombuffer(raw, dtype=dtype, count=numel))
        storage = self._storages[key]
        if storage.kind is not kind:
            raise pickle.UnpicklingError(f"{self._path}: storage {key!r} used as {storage.kind.name} and {kind.name}")
        return storage


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the number old (non-zip) torch.save files start with


def _check_not_legacy(path: str) -> None:
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head.startswith(b"PK"):
        raise SerializationError(f"load({path!r}): truncated or corrupted zip archive (a PyTorch file is a zip)")
    if head[:1] == b"\x80" and _LEGACY_MAGIC.to_bytes(10, "little") in head:
        raise SerializationError(f"load({path!r}): this is PyTorch's legacy (pre-1.6, non-zip) format, which "
                                 "fastcnn cannot read without torch; re-save it with a recent torch: "
                                 "torch.save(torch.load(path, weights_only=True), new_path)")
    raise SerializationError(f"load({path!r}): not a PyTorch checkpoint (not a zip archive)")


def read_torch_file(path) -> object:
    """The object a torch.save zip file holds, with every tensor as a NumPy array (bfloat16 -> float32)."""
    path = os.fspath(path)
    if not zipfile.is_zipfile(path):
        _check_not_legacy(path)
    try:
        with zipfile.ZipFile(path) as archive:
            pkls = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pkls) != 1:
                raise SerializationError(f"load({path!r}): expected one <prefix>/data.pkl in the zip, "
                                         f"found {pkls or 'none'}")
            prefix = pkls[0][:-len("data.pkl")]
            byteorder = "<"
            if prefix + "byteorder" in archive.namelist():
                text = archive.read(prefix + "byteorder").decode("ascii", "replace").strip()
                if text not in ("little", "big"):
                    raise SerializationError(f"load({path!r}): unknown byteorder {text!r}")
                byteorder = "<" if text == "little" else ">"
            with archive.open(pkls[0]) as data_pkl:
                return _Unpickler(data_pkl, archive, prefix, byteorder, path).load()
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise SerializationError(f"load({path!r}): corrupted PyTorch archive ({e})") from None
    except SerializationError:
        raise
    except (TypeError, ValueError, IndexError, KeyError, AttributeError) as e:  # a malformed pickle stream
        raise SerializationError(f"load({path!r}): malformed data.pkl ({type(e).__name__}: {e})") from None
