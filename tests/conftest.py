"""Shared fixtures for the fastcnn test suite.

- ``kernel_path``: runs a test once per kernel family this CPU supports ("avx2" where
  compiled in and supported, and always the portable "ref"), restoring the previous one.
- ``threads``: runs a test with 1 and with 2 kernel threads, restoring the previous count.
- ``@pytest.mark.cuda``: the test needs a usable NVIDIA GPU; skipped otherwise.
"""

from __future__ import annotations

import os
import sys

import pytest

# Make `import helpers` work however pytest is invoked (rootdir, tests/, a single file).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastcnn  # noqa: E402
from fastcnn import _C  # noqa: E402  (fastcnn/_C is the native module)

SUPPORTED_KERNEL_PATHS = [p for p in ("avx2", "ref") if _C.kernel_path_supported(p)]


def pytest_configure(config):
    # Also declared in pyproject.toml; repeated so the marker exists under any rootdir.
    config.addinivalue_line("markers", "cuda: needs an NVIDIA GPU")


def pytest_collection_modifyitems(config, items):
    if fastcnn.cuda.is_available():
        return
    reason = f"CUDA not available: {fastcnn.cuda.unavailable_reason()}"
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=SUPPORTED_KERNEL_PATHS)
def kernel_path(request):
    """The kernel family under test; the previous one is restored afterwards."""
    previous = _C.kernel_path()
    _C.set_kernel_path(request.param)
    assert _C.kernel_path() == request.param
    try:
        yield request.param
    finally:
        _C.set_kernel_path(previous)


@pytest.fixture(params=[1, 2], ids=lambda n: f"threads{n}")
def threads(request):
    """The kernel thread count under test; the previous one is restored afterwards."""
    previous = fastcnn.get_num_threads()
    fastcnn.set_num_threads(request.param)
    assert fastcnn.get_num_threads() == request.param
    try:
        yield request.param
    finally:
        fastcnn.set_num_threads(previous)
