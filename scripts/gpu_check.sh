#!/usr/bin/env bash
# Builds fastcnn with CUDA on a machine with an NVIDIA GPU and runs the CUDA tests, then the
# whole suite. Logs go to $OUT (or ./gpu-check). Usage: bash scripts/gpu_check.sh [seconds for the suite]
set -uo pipefail
out="${OUT:-gpu-check}"
mkdir -p "$out"
suite_seconds="${1:-240}"
export PYTHONUNBUFFERED=1 CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$out/gpu.txt"
# FASTCNN_CUDA=1: a missing CUDA compiler is a build error here, not a silent CPU-only build.
FASTCNN_CUDA=1 python3 -m pip install -q --no-build-isolation --no-deps . >"$out/build.log" 2>&1 \
  || { tail -40 "$out/build.log"; exit 1; }
cd /tmp  # import the installed package, not the source tree
python3 -m fastcnn info 2>&1 | tee "$out/info.txt"
cd - >/dev/null
python3 -m pytest -q -rs -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/test_cuda.log"
cuda_rc=${PIPESTATUS[0]}
# The rest of the suite on this machine's CPU (another vendor and feature set than CI's; its
# torch may differ from the pinned one, which moves a few repr tests). Needs pytest-xdist.
timeout "$suite_seconds" python3 -m pytest -q -rf -p no:cacheprovider -n "$(nproc)" tests >"$out/suite.log" 2>&1
grep -E "^(FAILED|ERROR)" "$out/suite.log" | cut -c1-160
tail -1 "$out/suite.log"
exit "$cuda_rc"
