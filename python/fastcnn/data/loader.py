"""DataLoader: batches of a map-style dataset as fastcnn Tensors.

Array datasets (with `get_batch`) are batched by one fancy-indexing gather and one
batch-level transform call; others go sample by sample through `collate_fn`. The order is
a permutation drawn from (seed, epoch) when shuffling, so a seed gives the same order
every run and a different one each epoch. Random transforms of batch b in epoch e draw
from a generator seeded by (seed, epoch, b), so results do not depend on num_workers.
num_workers > 0 (or prefetch=True, one worker) makes batches in background threads
(NumPy and the kernels release the GIL), handing them out in order.
"""

from __future__ import annotations

import collections
import concurrent.futures
import numbers

import numpy as np

__all__ = ["DataLoader", "default_collate"]


def _to_tensor(a):
    from ..tensor import from_numpy
    a = np.ascontiguousarray(a)
    if a.dtype in (np.float32, np.int64, np.bool_):
        return from_numpy(a)
    if a.dtype.kind == "f":
        return from_numpy(a.astype(np.float32))
    if a.dtype.kind in "iu" and a.dtype != np.uint8:
        return from_numpy(a.astype(np.int64))
    return a  # uint8 images (no transform) stay NumPy: fastcnn tensors do not hold uint8


def default_collate(samples):
    """A list of samples -> a batch: tuples are collated field by field, arrays stacked
    (float32 / int64 as Tensors), Python ints as an int64 Tensor, floats as float32."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(default_collate([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, (bool, np.bool_)):
        return _to_tensor(np.asarray(samples, dtype=np.bool_))
    if isinstance(first, numbers.Integral):
        return _to_tensor(np.asarray(samples, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return _to_tensor(np.asarray(samples, dtype=np.float32))
    if hasattr(first, "numpy") and not isinstance(first, np.ndarray):
        samples = [s.numpy() for s in samples]
    return _to_tensor(np.stack(samples))


class DataLoader:
    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False, seed=None,
                 num_workers: int = 0, prefetch: bool = False, collate_fn=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be an int >= 0, got {num_workers!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
            raise ValueError(f"DataLoader: seed must be None or an int >= 0, got {seed!r}")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__, got {type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.num_workers = int(num_workers)
        self.prefetch = bool(prefetch)
        self.collate_fn = collate_fn
        if seed is None:
            from .. import random as _random
            seed = int(_random.default_generator.numpy.integers(0, 2**63))
        self.seed = int(seed)
        self.epoch = 0
        self._fast = collate_fn is None and callable(getattr(dataset, "get_batch", None))

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def indices(self, epoch: int | None = None) -> np.ndarray:
        """The sample order of an epoch (default: the next one)."""
        n = len(self.dataset)
        epoch = self.epoch if epoch is None else epoch
        if self.shuffle:
            return np.random.default_rng([self.seed, epoch]).permutation(n)
        return np.arange(n)

    def _batch(self, indices, epoch, b):
        generator = np.random.default_rng([self.seed, epoch, b, 1])
        if self._fast:
            batch = self.dataset.get_batch(indices, generator=generator)
            if batch is not None:  # None: no batch form of the transform; go sample by sample
                return tuple(_to_tensor(a) for a in batch) if isinstance(batch, tuple) else _to_tensor(batch)
        get = getattr(self.dataset, "get_item", None)
        samples = [get(int(i), generator) if get else self.dataset[int(i)] for i in indices]
        return (self.collate_fn or default_collate)(samples)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        order = self.indices(epoch)
        bounds = [(s, min(s + self.batch_size, len(order))) for s in range(0, len(order), self.batch_size)]
        if self.drop_last and bounds and bounds[-1][1] - bounds[-1][0] < self.batch_size:
            bounds.pop()
        jobs = ((order[s:e], epoch, b) for b, (s, e) in enumerate(bounds))
        workers = self.num_workers or (1 if self.prefetch else 0)
        if workers == 0:
            for job in jobs:
                yield self._batch(*job)
            return
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            pending = collections.deque()
            try:
                for job in jobs:
                    pending.append(pool.submit(self._batch, *job))
                    if len(pending) > 2 * workers:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for f in pending:
                    f.cancel()
