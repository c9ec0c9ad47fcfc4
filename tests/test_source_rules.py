"""Rules on the C++ sources that no compiler here would catch.

No iostreams in csrc/: some build images link libstdc++ statically (GCC 13 at /opt/gcc on
the GPU machine), and there a stream formatting a number crashed the interpreter inside an
error message. Messages are built with common/str_cat.h instead.
"""

from __future__ import annotations

import pathlib
import re

import pytest

CSRC = pathlib.Path(__file__).resolve().parent.parent / "csrc"
STREAMS = re.compile(r"#include\s*<(sstream|iostream|fstream|ostream|istream)>|std::\w*stringstream|std::cout|std::cerr")


@pytest.mark.skipif(not CSRC.is_dir(), reason="the C++ sources are not beside the tests")
def test_no_iostreams_in_native_sources():
    sources = [p for p in CSRC.rglob("*") if p.suffix in {".h", ".cpp", ".cu", ".cuh"}]
    assert len(sources) > 20
    offenders = [f"{p.relative_to(CSRC)}: {m.group(0)}" for p in sources for m in STREAMS.finditer(p.read_text())]
    assert not offenders, "use common/str_cat.h instead of iostreams:\n" + "\n".join(offenders)
