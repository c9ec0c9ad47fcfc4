"""Atomic file writes: a temporary file in the target's folder, fsync'd, then os.replace'd
over the target, so a crash at any moment leaves either the old file or the new one."""

from __future__ import annotations

import io
import os
import tempfile


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once at import: changing the umask later, even briefly, would race with other threads.
_FILE_MODE = 0o666 & ~_read_umask()


def atomic_png(fig, path, **savefig_kwargs) -> None:
    """Saves a matplotlib figure as PNG at `path`, atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **savefig_kwargs)
    atomic_write(path, buffer.getvalue())


def atomic_write(path, *chunks: bytes) -> None:
    """Writes the chunks, one after another, to `path` atomically (the folder must exist)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; give the mode a plain open() would
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise

