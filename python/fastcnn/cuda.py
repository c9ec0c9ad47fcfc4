"""fastcnn.cuda: whether a GPU can be used, and why not."""

from __future__ import annotations

from .backend import _C_cuda, cuda_import_error


def is_built() -> bool:
    """True when the CUDA module `fastcnn._C_cuda` was compiled and imports."""
    return _C_cuda is not None


def device_count() -> int:
    """Number of CUDA devices this process can use (0 without a build, driver or device)."""
    return _C_cuda.device_status()["device_count"] if _C_cuda is not None else 0


def is_available() -> bool:
    """True when fastcnn can run kernels on a GPU."""
    return device_count() > 0


def unavailable_reason() -> str | None:
    """Why CUDA cannot be used (not built, no driver, no device), or None if it can."""
    if _C_cuda is None:
        return cuda_import_error
    return _C_cuda.device_status()["reason"] or None


__all__ = ["device_count", "is_available", "is_built", "unavailable_reason"]
