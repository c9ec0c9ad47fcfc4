"""The global random generator: factories (randn, rand) and dropout draw from it.

A NumPy Generator gives the factory samples; dropout's kernel takes a (seed, offset)
pair, so the generator hands out consecutive offsets of its seed's stream.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed"]

_DEFAULT_SEED = 67280421310721  # torch's default, so an unseeded program is still reproducible


class Generator:
    def __init__(self, seed: int = _DEFAULT_SEED):
        self.manual_seed(seed)

    def manual_seed(self, seed) -> "Generator":
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"manual_seed: seed must be an int, got {seed!r}")
        seed = int(seed)
        if not 0 <= seed < 1 << 64:
            raise ValueError(f"manual_seed: seed must be in [0, 2**64), got {seed}")
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._offset = 0
        return self

    def initial_seed(self) -> int:
        return self._seed

    @property
    def numpy(self) -> np.random.Generator:
        return self._rng

    def philox_args(self, count: int) -> tuple[int, int]:
        """(seed, offset) for a kernel drawing `count` values; later calls get fresh ones."""
        offset = self._offset
        self._offset = (self._offset + int(count)) % (1 << 64)
        return self._seed, offset


default_generator = Generator()


def manual_seed(seed) -> Generator:
    """Seeds the global generator (factories and dropout), as torch.manual_seed."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seeds the global generator from the OS's entropy and returns the seed."""
    s = int(np.random.SeedSequence().entropy % (1 << 63))
    default_generator.manual_seed(s)
    return s


def initial_seed() -> int:
    return default_generator.initial_seed()
