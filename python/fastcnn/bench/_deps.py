"""Optional references: PyTorch (and torchvision for the model zoo twins), imported once.

Everything that wants torch goes through optional_torch(), so a test can simulate a
machine without it by replacing this one function.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import warnings

INSTALL_HINT = "add PyTorch as a reference with: pip install 'fastcnn[bench]'  (or: pip install torch)"
_cache: dict = {}


def optional_torch():
    """The torch module, or None when it is not installed (or fails to import)."""
    if "torch" not in _cache:
        try:
            import torch
            _cache["torch"] = torch
        except Exception:  # noqa: BLE001 - a broken install counts as absent
            _cache["torch"] = None
    return _cache["torch"]


def import_torchvision_models():
    """torchvision.models; ImportError without torchvision. The PyPI torchvision wheel may be a
    CUDA build whose _C cannot load against CPU torch, which breaks `import torchvision`
    (operator registration), not the model definitions: then they are imported under a bare
    package stub."""
    try:
        import torchvision.models as tvm
        return tvm
    except (RuntimeError, OSError):
        for k in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[k]
    spec = importlib.util.find_spec("torchvision")
    pkg = types.ModuleType("torchvision")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["torchvision"] = pkg
    return importlib.import_module("torchvision.models")


def optional_torchvision_models():
    """torchvision.models, or None when torch or torchvision is missing or fails to import."""
    if "tvm" in _cache:
        return _cache["tvm"]
    tvm = None
    if optional_torch() is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tvm = import_torchvision_models()
        except Exception:  # noqa: BLE001 - a broken install counts as absent
            tvm = None
    _cache["tvm"] = tvm
    return tvm
