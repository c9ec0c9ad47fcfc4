"""The timing harness now lives in the package (fastcnn/bench/harness.py) so `fastcnn bench`
can use it once installed; the scripts here keep importing it under its old name.

It is loaded by file path, not `import fastcnn.bench.harness`: importing the fastcnn package
loads NumPy, and configure_threads() must run before that (OpenBLAS sizes its pool at load).
The harness itself uses the standard library only.
"""

import importlib.util
import pathlib
import sys


def _load():
    name = "fastcnn.bench.harness"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec("fastcnn")  # locates the package without executing it
    roots = list(spec.submodule_search_locations) if spec else []
    roots.append(str(pathlib.Path(__file__).resolve().parent.parent / "python" / "fastcnn"))
    for root in roots:
        path = pathlib.Path(root) / "bench" / "harness.py"
        if path.is_file():
            module_spec = importlib.util.spec_from_file_location("_fastcnn_bench_harness", path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_spec.name] = module  # dataclasses look their module up there
            module_spec.loader.exec_module(module)
            return module
    raise ImportError("fastcnn/bench/harness.py not found: install fastcnn (pip install -e .)")


_harness = _load()
Timing = _harness.Timing
compare = _harness.compare
configure_threads = _harness.configure_threads
latency = _harness.latency
parse_arguments = _harness.parse_arguments
percentile = _harness.percentile
print_table = _harness.print_table
write_json = _harness.write_json
