"""The optional `onnx` package, imported only when an ONNX function runs (NumPy stays the only
run-time dependency of fastcnn)."""

from __future__ import annotations


def require_onnx():
    """The onnx module, or an ImportError that says what to install."""
    try:
        import onnx
    except ImportError as e:
        raise ImportError("fastcnn.onnx needs the 'onnx' package: pip install onnx  "
                          "(or: pip install 'fastcnn[test]')") from e
    return onnx
