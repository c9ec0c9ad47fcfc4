"""activation kernels (see fastcnn.ops)."""

__all__: list[str] = []
