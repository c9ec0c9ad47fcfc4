"""The IDX file format of MNIST and Fashion-MNIST, read and written, gzipped or not.

Layout: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64), the number of dimensions, then each dimension as a
big-endian uint32, then the data, big-endian, row-major. A file is gzipped when it starts
with gzip's magic bytes (whatever its name).
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from .._atomic import atomic_write

__all__ = ["read_idx", "write_idx", "parse_idx"]

_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
          np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}
_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """The array in an IDX file's (uncompressed) bytes; ValueError when malformed."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"read_idx: {name} is not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _TYPES:
        raise ValueError(f"read_idx: {name} has unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {name} is truncated (header of {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _TYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"read_idx: {name} has {len(raw)} bytes, expected {expected} for shape {shape} "
                         f"of {dtype.name}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)  # native order, writable, owns its memory


def read_idx(path) -> np.ndarray:
    """The array stored in an IDX file (gzipped or not), in native byte order."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"read_idx: {path} is a corrupt gzip file ({e})") from None
    return parse_idx(raw, path)


def idx_bytes(array) -> bytes:
    """The IDX encoding of an array (uint8, int8, int16, int32, float32 or float64)."""
    a = np.asarray(array)
    dtype = a.dtype.newbyteorder("=")
    if dtype not in _CODES:
        raise TypeError(f"write_idx: array has dtype {a.dtype}; IDX stores uint8, int8, int16, int32, "
                        "float32 or float64")
    if a.ndim > 255:
        raise ValueError(f"write_idx: array has {a.ndim} dimensions, IDX stores at most 255")
    header = bytes([0, 0, _CODES[dtype], a.ndim]) + np.asarray(a.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(a, dtype=a.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, compress: bool | None = None) -> None:
    """Writes array as an IDX file, gzipped when compress (default: path ends in .gz).

    The write is atomic: a temporary file in the same directory, then os.replace.
    """
    path = os.fspath(path)
    data = idx_bytes(array)
    if compress is None:
        compress = path.endswith(".gz")
    if compress:
        data = gzip.compress(data, mtime=0)
    atomic_write(path, data)
