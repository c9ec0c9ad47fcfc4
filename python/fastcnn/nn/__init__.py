"""fastcnn.nn: neural-network building blocks (functional ops now; layers come later)."""

from . import functional  # noqa: F401

__all__ = ["functional"]
