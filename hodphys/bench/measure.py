"""Measuring tools for the analytic benchmarks: median timings and peak tensor memory.

* :func:`time_interleaved`: medians of :func:`hodphys.bench.timing.interleaved` (shuffled
  interleaved rounds, samples of ≥ 20 ms) with torch on one thread and autograd off.
* :func:`peak_bytes` counts every tensor storage created while a function runs (a
  ``TorchDispatchMode`` sees the real tensors under vmap/jvp too) and reports the peak of the
  live total, in-process and independent of the allocator's caching — cheap enough for a sweep
  of 44 cells × 3 methods, where ``hodphys bench``'s RSS probe spawns a process per contender.
"""
from __future__ import annotations

import statistics
import weakref
from contextlib import contextmanager
from typing import Any
from collections.abc import Callable, Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from hodphys.bench.timing import interleaved


@contextmanager
def single_thread() -> Iterator[None]:
    """torch.set_num_threads(1) for the block, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def time_interleaved(candidates: dict[str, Callable[[], Any]], repeats: int = 7,
                     warmup: int = 1, min_time: float = 0.02) -> dict[str, float]:
    """Median seconds per call of each candidate over ``repeats`` interleaved rounds; a sample
    repeats fast candidates until it lasts ``min_time`` (see :func:`hodphys.bench.timing.interleaved`)."""
    with single_thread(), torch.no_grad():
        times, _ = interleaved(candidates, repeat=repeats, warmup=warmup, min_time=min_time)
    return {name: statistics.median(ts) for name, ts in times.items()}


class _PeakTensorMemory(TorchDispatchMode):
    """Live bytes of the tensor storages created under the mode, and their peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live, self.peak, self._seen = 0, 0, set()

    def _release(self, key: int, size: int) -> None:
        self.live -= size
        self._seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(r.alias_info is not None for r in func._schema.returns):
            return out  # a view or an in-place result: no new storage (a view of a weight is not memory)
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            try:  # functorch wrappers have no storage of their own; their real tensors do
                storage = t.untyped_storage()
                key = storage.data_ptr()
            except RuntimeError:
                continue
            if key in self._seen or storage.nbytes() == 0:
                continue
            self._seen.add(key)
            self.live += storage.nbytes()
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._release, key, storage.nbytes())
        return out


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes of live tensors created while ``fn()`` runs (its result included)."""
    with torch.no_grad(), _PeakTensorMemory() as mode:
        fn()
    return mode.peak
