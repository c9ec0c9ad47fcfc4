"""fastcnn.onnx: export a model to an ONNX file (export) and run an ONNX file as a fastcnn Module (load).

Both need the optional `onnx` package (pip install onnx), imported when they run."""

from __future__ import annotations

from .export import UnsupportedOperatorError, export
from .load import GraphModule, load

__all__ = ["export", "load", "GraphModule", "UnsupportedOperatorError"]
