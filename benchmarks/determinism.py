"""Cost of fastcnn.use_deterministic_algorithms(True): the convolution weight gradient (the
one kernel the mode changes) with the mode off and on, interleaved.

    python benchmarks/determinism.py [--threads N] [--rounds R] [--only TEXT]

Prints, per layer of benchmarks/conv.py, the best time of each mode and on/off (> 1: slower).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastcnn
from fastcnn import ops

from conv import LAYERS  # noqa: E402  (the same real layer shapes)


def best_time(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=fastcnn.get_num_threads())
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="", help="layers whose name contains this text")
    args = parser.parse_args()
    fastcnn.set_num_threads(args.threads)
    print(f"{'layer':<26} {'off ms':>9} {'on ms':>9} {'on/off':>7}   ({args.threads} threads)")
    ratios = []
    for name, x_shape, w_shape, stride, padding, groups in LAYERS:
        if args.only not in name:
            continue
        rng = np.random.default_rng(0)
        x = rng.standard_normal(x_shape, dtype=np.float32)
        w = rng.standard_normal(w_shape, dtype=np.float32)
        geometry = dict(stride=stride, padding=padding, groups=groups)
        gy = rng.standard_normal(ops.conv2d(x, w, None, **geometry).shape, dtype=np.float32)

        def step():
            ops.conv2d_backward(gy, x, w, **geometry, output_mask=(False, True, True))

        times = {False: float("inf"), True: float("inf")}
        for _ in range(3):  # interleaved, so a busy moment of the machine hits both modes
            for mode in (False, True):
                fastcnn.use_deterministic_algorithms(mode)
                step()  # warm-up: buffers sized for this layer
                times[mode] = min(times[mode], best_time(step, args.rounds))
        fastcnn.use_deterministic_algorithms(False)
        ratios.append(times[True] / times[False])
        print(f"{name:<26} {times[False] * 1e3:9.2f} {times[True] * 1e3:9.2f} {ratios[-1]:7.3f}")
    print(f"{'geometric mean':<26} {'':>9} {'':>9} {float(np.exp(np.mean(np.log(ratios)))):7.3f}")


if __name__ == "__main__":
    main()
