"""The native modules: `_C` (CPU, always built) and `_C_cuda` (only where nvcc was found)."""

from __future__ import annotations

import importlib

from . import _C

try:
    _C_cuda = importlib.import_module("fastcnn._C_cuda")
    cuda_import_error: str | None = None
except ModuleNotFoundError:
    _C_cuda = None
    cuda_import_error = "fastcnn was built without CUDA (no CUDA compiler found at build time, or FASTCNN_CUDA=0)"
except ImportError as error:  # built, but its shared libraries did not load
    _C_cuda = None
    cuda_import_error = f"fastcnn._C_cuda failed to import: {error}"

__all__ = ["_C", "_C_cuda", "cuda_import_error"]
