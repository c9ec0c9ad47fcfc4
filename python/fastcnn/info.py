"""What fastcnn was built with and what it found on this machine (`fastcnn info`)."""

from __future__ import annotations

import platform
import sys

import numpy as np

from . import cuda
from .backend import _C, _C_cuda


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect() -> dict:
    """All of it as a dict (also stored with every benchmark result)."""
    from . import __version__

    features = _C.cpu_features()
    info = {
        "fastcnn": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_features": [name for name, present in features.items() if present],
        "build": _C.build_info(),
        "kernel_path": _C.kernel_path(),
        "kernel_paths_supported": [p for p in ("avx2", "ref") if _C.kernel_path_supported(p)],
        "threads": _C.get_num_threads(),
        "threads_source": _C.num_threads_source(),
        "physical_cores_usable": _C.usable_physical_cores(),
        "flush_denormal": _C.flush_denormal(),
        "cuda_built": cuda.is_built(),
        "cuda_devices": cuda.device_count(),
        "cuda_unavailable_reason": cuda.unavailable_reason(),
    }
    if _C_cuda is not None:
        info["cuda_build"] = _C_cuda.build_info()
        info["cuda_status"] = _C_cuda.device_status()
    return info


def format_info(info: dict) -> str:
    build = info["build"]
    lines = [
        f"fastcnn {info['fastcnn']} (python {info['python']}, numpy {info['numpy']})",
        f"platform:       {info['platform']}",
        f"compiler:       {build['compiler']}  flags: {build['flags'].strip() or '(none)'}",
        f"OpenMP:         {build['openmp']}",
        f"CPU:            {info['cpu']}",
        f"CPU features:   {', '.join(info['cpu_features']) or 'none of avx, avx2, fma'}",
        f"kernel path:    {info['kernel_path']} (supported: {', '.join(info['kernel_paths_supported'])}; "
        f"AVX2 kernels compiled: {'yes' if build['avx2_kernels_compiled'] else 'no'})",
        f"threads:        {info['threads']} ({info['threads_source']}); "
        f"physical cores usable: {info['physical_cores_usable']}",
        f"flush denormal: {'on' if info['flush_denormal'] else 'off'}",
    ]
    if info["cuda_built"]:
        cuda_build = info["cuda_build"]
        lines.append(f"CUDA:           built ({cuda_build['compiler']}, architectures {cuda_build['architectures']})")
    else:
        lines.append("CUDA:           not built")
    if info["cuda_devices"]:
        lines.append(f"CUDA devices:   {info['cuda_devices']}")
    else:
        lines.append(f"CUDA devices:   none ({info['cuda_unavailable_reason']})")
    return "\n".join(lines)


__all__ = ["collect", "format_info"]
