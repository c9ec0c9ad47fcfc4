"""fastcnn.save / fastcnn.load: state dicts to and from .safetensors, .npz and (load only) .pt/.pth.

The safetensors format is written and read here (NumPy only): an 8-byte little-endian header
length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the raw
little-endian data. fastcnn stores the data section's SHA-256 in the metadata and checks it on
load when present. PyTorch files go through torch.load(weights_only=True) when torch is
importable, else through the restricted reader in _torch_pickle (which never runs file code).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Mapping

import numpy as np

from ._atomic import atomic_write
from .tensor import Tensor, tensor as _tensor

__all__ = ["save", "load", "SerializationError"]

_SHA_KEY = "fastcnn.sha256"
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors package's own limit

# safetensors dtype string <-> little-endian NumPy dtype. BF16 has no NumPy dtype: read as <u2.
_ST_TO_NP = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
             "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?", "BF16": "<u2"}
_NP_TO_ST = {np.dtype(v).newbyteorder("="): k for k, v in _ST_TO_NP.items() if k != "BF16"}


class SerializationError(ValueError):
    """A file that cannot be read as a state dict, or an object that cannot be saved as one."""


class SerializationTypeError(SerializationError, TypeError):
    """save() was given a key or value of the wrong type."""


def _fmt(path) -> str:
    ext = os.path.splitext(os.fspath(path))[1].lower()
    return {".npz": "npz", ".pt": "torch", ".pth": "torch"}.get(ext, "safetensors")


# ---- save ---------------------------------------------------------------------------------------

def _checked_arrays(obj, path) -> dict[str, np.ndarray]:
    if not isinstance(obj, Mapping):
        raise SerializationTypeError(f"save({path!r}): expected a dict of str -> Tensor/ndarray (a state dict), "
                                     f"got {type(obj).__name__}")
    out = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise SerializationTypeError(f"save({path!r}): keys must be str, got {type(key).__name__} key {key!r}")
        if key == "__metadata__":
            raise SerializationError(f"save({path!r}): key '__metadata__' is reserved by the safetensors format")
        if isinstance(value, Tensor):
            array = value.detach().numpy()
        elif isinstance(value, np.ndarray):
            array = value
        else:
            raise SerializationTypeError(f"save({path!r}): value of key {key!r} is a {type(value).__name__}; "
                                         "only fastcnn.Tensor and numpy.ndarray values can be saved")
        if array.dtype.newbyteorder("=") not in _NP_TO_ST:
            raise SerializationError(f"save({path!r}): key {key!r} has unsupported dtype {array.dtype} "
                                     f"(supported: {', '.join(sorted(str(d) for d in _NP_TO_ST))})")
        out[key] = array
    return out


def _safetensors_bytes(arrays: dict[str, np.ndarray]) -> list[bytes]:
    # Widest dtypes first (then by name), as the safetensors package does, so every tensor is aligned.
    order = sorted(arrays, key=lambda k: (-arrays[k].dtype.itemsize, k))
    header, chunks, offset = {}, [], 0
    for key in order:
        a = arrays[key]
        st = _NP_TO_ST[a.dtype.newbyteorder("=")]
        raw = np.ascontiguousarray(a, dtype=np.dtype(_ST_TO_NP[st])).tobytes()
        header[key] = {"dtype": st, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    digest = hashlib.sha256()
    for c in chunks:
        digest.update(c)
    header = {"__metadata__": {"format": "np", _SHA_KEY: digest.hexdigest()}, **header}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad with spaces so the data section starts 8-byte aligned
    return [struct.pack("<Q", len(text)), text, *chunks]


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    # Written member by member, as np.savez does: np.savez(**arrays) would clash with keys like "file".
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, a in arrays.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(a), allow_pickle=False)
    return buffer.getvalue()


def save(obj, f) -> None:
    """Saves a flat state dict (str -> fastcnn.Tensor or numpy.ndarray) to the path `f`, atomically.

    The format follows the extension: .npz is NumPy's; anything else is safetensors (.pt/.pth are
    refused: fastcnn reads PyTorch files but does not write them)."""
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(f"save: f must be a path (str or os.PathLike), got {type(f).__name__}")
    path = os.fspath(f)
    kind = _fmt(path)
    if kind == "torch":
        raise SerializationError(f"save({path!r}): .pt/.pth files are load-only in fastcnn; "
                                 "use .safetensors (or .npz)")
    arrays = _checked_arrays(obj, path)
    if kind == "npz":
        atomic_write(path, _npz_bytes(arrays))
    else:
        atomic_write(path, *_safetensors_bytes(arrays))


# ---- load ---------------------------------------------------------------------------------------

def _bad(path, what) -> SerializationError:
    return SerializationError(f"load({path!r}): {what}")


def _read_safetensors(path) -> dict[str, np.ndarray]:
    with open(path, "rb") as fh:
        blob = fh.read()
    if len(blob) < 8:
        raise _bad(path, f"file is {len(blob)} bytes, too short for a safetensors header (truncated?)")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > _MAX_HEADER or 8 + n > len(blob):
        raise _bad(path, f"header length {n} exceeds the file's {len(blob) - 8} bytes after the length "
                         "(truncated, or not a safetensors file)")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad(path, f"header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise _bad(path, f"header is a JSON {type(header).__name__}, expected an object")
    data = memoryview(blob)[8 + n:]
    meta = header.pop("__metadata__", None)
    if meta is not None and (not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values())):
        raise _bad(path, "__metadata__ must map str to str")
    spans = []
    for key, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _bad(path, f"key {key!r}: entry must be an object with exactly dtype, shape, data_offsets; "
                             f"got {entry!r}")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _ST_TO_NP:
            raise _bad(path, f"key {key!r}: unsupported dtype {dtype!r} (supported: {', '.join(_ST_TO_NP)})")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise _bad(path, f"key {key!r}: shape must be a list of non-negative ints, got {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= len(data)):
            raise _bad(path, f"key {key!r}: data_offsets {offsets!r} out of range for a data section of "
                             f"{len(data)} bytes (truncated file, or a header that lies)")
        itemsize = np.dtype(_ST_TO_NP[dtype]).itemsize
        need = math.prod(shape) * itemsize
        if offsets[1] - offsets[0] != need:
            raise _bad(path, f"key {key!r}: data_offsets {offsets} span {offsets[1] - offsets[0]} bytes but "
                             f"dtype {dtype} shape {shape} needs {need}")
        spans.append((offsets[0], offsets[1], key))
    # The tensors must tile the data section exactly: no overlap, no gap, nothing left over.
    end, prev = 0, None
    for begin, stop, key in sorted(spans):
        if begin != end:
            what = f"overlaps {prev!r}" if begin < end else f"leaves a gap of {begin - end} bytes after {prev!r}"
            raise _bad(path, f"key {key!r}: data_offsets [{begin}, {stop}] {what}")
        end, prev = stop, key
    if end != len(data):
        raise _bad(path, f"data section is {len(data)} bytes but the tensors cover {end} (trailing bytes)")
    if meta and _SHA_KEY in meta:
        digest = hashlib.sha256(data).hexdigest()
        if digest != meta[_SHA_KEY]:
            raise _bad(path, f"SHA-256 of the data section is {digest}, the header says {meta[_SHA_KEY]} "
                             "(the file is corrupted)")
    out = {}
    for key, entry in header.items():
        begin, stop = entry["data_offsets"]
        raw = np.frombuffer(data[begin:stop], dtype=_ST_TO_NP[entry["dtype"]]).reshape(entry["shape"])
        if entry["dtype"] == "BF16":  # bfloat16 is the top half of a float32
            out[key] = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            out[key] = raw.astype(raw.dtype.newbyteorder("="), copy=True)
    return out


def _read_npz(path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise _bad(path, "not an .npz archive (a single .npy array?)")
            out = {}
            for key in z.files:
                try:
                    out[key] = z[key]
                except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
                    raise _bad(path, f"key {key!r}: {e}") from None
            return out
    except SerializationError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise _bad(path, f"not a readable .npz file ({e})") from None


def _torch_to_numpy(obj):
    """Replaces every torch.Tensor inside obj (dicts, lists, tuples) by a NumPy array."""
    import torch
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        return (t.float() if t.dtype == torch.bfloat16 else t).numpy().copy()
    if isinstance(obj, dict):
        return type(obj)((k, _torch_to_numpy(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_torch_to_numpy(v) for v in obj)
    return obj


def _read_torch(path, use_torch) -> object:
    if use_torch is None:
        try:
            import torch  # noqa: F401
            use_torch = True
        except ImportError:
            use_torch = False
    if use_torch:
        import pickle
        try:
            import torch
        except ImportError:
            raise ImportError("load(use_torch=True) needs PyTorch: pip install torch "
                              "(or use_torch=False for fastcnn's own reader)") from None
        try:
            return _torch_to_numpy(torch.load(path, map_location="cpu", weights_only=True))
        except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile) as e:
            raise _bad(path, f"torch.load(weights_only=True) refused the file: {e}") from e
    from ._torch_pickle import read_torch_file
    return read_torch_file(path)


def _to_tensors(obj):
    if isinstance(obj, np.ndarray):
        return _tensor(obj)
    if isinstance(obj, dict):
        return type(obj)((k, _to_tensors(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_tensors(v) for v in obj)
    return obj


def load(f, *, use_torch: bool | None = None, as_numpy: bool = False):
    """Loads what save() wrote, a safetensors file, an .npz, or a PyTorch .pt/.pth checkpoint.

    Returns a dict of fastcnn Tensors (floats as float32, ints as int64, as fastcnn.tensor does),
    ready for Module.load_state_dict; as_numpy=True gives the arrays with their stored dtypes
    instead (bfloat16 always becomes float32). A PyTorch file is returned as it holds it (a
    checkpoint dict wrapping a state dict stays wrapped). use_torch: None uses torch.load with
    weights_only=True when torch is importable, False always uses fastcnn's own restricted
    reader, True requires torch."""
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(f"load: f must be a path (str or os.PathLike), got {type(f).__name__}")
    path = os.fspath(f)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no such file: {path!r}")
    kind = _fmt(path)
    if kind == "npz":
        obj = _read_npz(path)
    elif kind == "torch":
        obj = _read_torch(path, use_torch)
    else:
        obj = _read_safetensors(path)
    return obj if as_numpy else _to_tensors(obj)
