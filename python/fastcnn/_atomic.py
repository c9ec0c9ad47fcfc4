"""Atomic file writes: a temporary file in the target's folder, fsync'd, then os.replace'd
over the target, so a crash at any moment leaves either the old file or the new one. The
folder is fsync'd after the rename so the new name survives a power cut too."""

from __future__ import annotations

import io
import os
import re
import tempfile
import time


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# A temporary file untouched this long was left by a killed writer (a live one writes and
# fsyncs within seconds); the next successful write to the same target removes it.
STALE_TEMP_AGE_S = 600.0

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
    _fsync_folder(folder)
    _remove_stale_temps(folder, os.path.basename(path))


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform (Windows); the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale_temps(folder: str, name: str) -> None:
    """Deletes this target's temporary files that killed writers left behind."""
    # mkstemp's names: our prefix, 8 characters of [a-z0-9_], our suffix; nothing else matches,
    # not even the temporary files of a longer name with the same start ("a" vs "a.b").
    pattern = re.compile(re.escape("." + name + ".") + r"[a-z0-9_]{8}\.tmp")
    cutoff = time.time() - STALE_TEMP_AGE_S
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
        except OSError:  # gone already, or not ours to delete
            pass

