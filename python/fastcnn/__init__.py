"""fastcnn: convolutional networks on hand-tuned AVX2/FMA and CUDA kernels."""

import os as _os

# Idle OpenMP threads spin only briefly before they sleep, so fastcnn never burns a core
# between kernel calls, yet back-to-back calls (a training loop) find the pool awake:
# a pool that sleeps at once (OMP_WAIT_POLICY=PASSIVE) measured 2x slower on a 2-thread
# GEMM when other processes share the cores, since each call waits for the woken thread
# to be scheduled. libgomp reads GOMP_SPINCOUNT once, when it loads with _C (imported by
# backend): set it for that moment only, so other OpenMP users in the process (torch's own
# runtime, child processes) keep their defaults. A user's OMP_WAIT_POLICY or
# GOMP_SPINCOUNT wins.
_SPIN_ITERATIONS = "20000"  # about 0.3 ms of spinning on a 3-4 GHz core
_set_spincount = "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ
if _set_spincount:
    _os.environ["GOMP_SPINCOUNT"] = _SPIN_ITERATIONS
try:
    from . import backend
finally:
    if _set_spincount:
        del _os.environ["GOMP_SPINCOUNT"]

from . import cuda, ops  # noqa: E402
from .gemm import matmul  # noqa: E402
from .threads import get_num_threads, set_flush_denormal, set_num_threads  # noqa: E402
from .determinism import are_deterministic_algorithms_enabled, use_deterministic_algorithms  # noqa: E402
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from .random import Generator, default_generator, initial_seed, manual_seed, seed  # noqa: E402
from .tensor import (  # noqa: E402
    Tensor, arange, bool, cat, empty, float32, from_dlpack, from_numpy, full, full_like, int64, ones, ones_like,
    rand, randn, stack, tensor, where, zeros, zeros_like,
)
from . import data, filters, models, nn, optim, train, transfer  # noqa: E402
from . import onnx  # noqa: E402  (imports the onnx package only when export/load run)
from .fuse import fuse  # noqa: E402
from .serialization import load, save  # noqa: E402
from .summary import summary  # noqa: E402
from .train import evaluate  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Generator", "Tensor", "__version__", "arange", "are_deterministic_algorithms_enabled", "backend", "bool", "cat",
    "cuda", "data", "default_generator", "empty", "enable_grad", "evaluate", "filters", "float32", "from_dlpack",
    "from_numpy", "full", "full_like", "fuse", "get_num_threads", "initial_seed", "int64", "is_grad_enabled", "load",
    "manual_seed", "matmul", "models", "nn", "no_grad", "ones", "ones_like", "onnx", "ops", "optim", "rand", "randn",
    "save", "seed", "set_flush_denormal", "set_grad_enabled", "set_num_threads", "stack", "summary", "tensor", "train",
    "transfer", "use_deterministic_algorithms", "where", "zeros", "zeros_like",
]
