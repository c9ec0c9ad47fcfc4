"""fastcnn._atomic: the write itself, and the clean-up of temporary files killed writers left."""

from __future__ import annotations

import os
import time

import pytest

from fastcnn._atomic import STALE_TEMP_AGE_S, atomic_write


def _temp(folder, target, random_part, age_s):
    path = folder / f".{target}.{random_part}.tmp"
    path.write_bytes(b"partial")
    old = time.time() - age_s
    os.utime(path, (old, old))
    return path


def test_writes_all_chunks_and_replaces(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    atomic_write(target, b"ab", b"", b"cd")
    assert target.read_bytes() == b"abcd"
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]


def test_stale_temporary_files_of_the_target_are_removed(tmp_path):
    stale = _temp(tmp_path, "last.ckpt", "k2j_9xq0", STALE_TEMP_AGE_S + 60)
    fresh = _temp(tmp_path, "last.ckpt", "a1b2c3d4", 5)  # maybe a live writer's: kept
    other = _temp(tmp_path, "last.ckpt.bak", "zzzzzzzz", STALE_TEMP_AGE_S + 60)  # another target's
    odd = _temp(tmp_path, "last.ckpt", "notmkstemp", STALE_TEMP_AGE_S + 60)  # not a name we make
    atomic_write(tmp_path / "last.ckpt", b"new")
    assert not stale.exists()
    assert fresh.exists() and other.exists() and odd.exists()
    assert (tmp_path / "last.ckpt").read_bytes() == b"new"


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "x.json"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write(target, b"half", 123)  # the second chunk fails mid-write
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["x.json"]
