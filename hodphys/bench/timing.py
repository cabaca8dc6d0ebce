"""Interleaved timing: every repetition runs each contender once, in a shuffled order.

Interleaving spreads the machine's drift (other processes, clock changes) over all contenders
alike, so the ratios of medians from one run are meaningful even when the absolute times are
noisy. The order is reshuffled every repetition (seeded): a fixed cyclic order would always put
the same contender after the same heavy one, whose freed memory and evicted caches it inherits.
Python's garbage collector runs between samples, never inside one (as ``timeit`` does).
"""
from __future__ import annotations

import contextlib
import gc
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from hodphys.checks import check_integers


def schedule(names: Sequence[str], repetitions: int, seed: int = 0) -> list[list[str]]:
    """The order of each repetition: every name once, shuffled with a seeded generator."""
    generator = random.Random(seed)
    return [generator.sample(list(names), len(names)) for _ in range(repetitions)]


@contextlib.contextmanager
def _collector_between_calls() -> Iterator[Callable[[], None]]:
    """Freeze what exists now (so collections are cheap), disable automatic collection, and
    yield a function that collects garbage; everything is restored afterwards."""
    enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield gc.collect
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def calls_per_sample(seconds: float, min_time: float) -> int:
    """How many back-to-back calls make one sample last ≥ min_time (1 for slow contenders)."""
    if seconds <= 0:
        return 1 if min_time <= 0 else 1000
    return max(1, math.ceil(min_time / seconds))


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved(contenders: dict[str, Callable[[], object]], repeat: int, warmup: int,
                sync: Callable[[], None] = lambda: None, min_time: float = 0.0,
                clock: Callable[[], float] = time.perf_counter
                ) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Seconds per call of each contender over ``repeat`` timed repetitions after ``warmup`` ones,
    interleaved in the orders of :func:`schedule`.

    A sample is the mean of ``number`` back-to-back calls, with number set from the fastest warm-up
    call so that a sample lasts ≥ min_time (as ``timeit`` does): sub-millisecond contenders get
    samples long enough for the clock and the scheduler, slow ones are called once.
    sync() waits for queued device work (e.g. ``torch.cuda.synchronize``) before each clock read.
    ``clock``: wall time (default), or the process's CPU time (``time.process_time``: every thread's
    work, without the time other processes held the core — for a shared machine).
    Returns name → ``repeat`` seconds per call, and name → number.
    """
    check_integers("interleaved", 1, repeat=repeat)
    check_integers("interleaved", 0, warmup=warmup)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    number = {name: 1 for name in contenders}
    fastest: dict[str, float] = {}
    with _collector_between_calls() as collect:
        for repetition, order in enumerate(schedule(list(contenders), warmup + repeat)):
            for name in order:
                collect()
                sync()
                start = clock()
                for _ in range(number[name]):
                    contenders[name]()
                sync()
                seconds = (clock() - start) / number[name]
                if repetition >= warmup:
                    times[name].append(seconds)
                else:
                    fastest[name] = min(fastest.get(name, seconds), seconds)
                if repetition == warmup - 1:
                    number[name] = calls_per_sample(fastest[name], min_time)
    return times, number


def summarize(times: Sequence[float]) -> dict[str, float]:
    """median, quartiles (q1, q3), min and max of a list of times, in the same unit."""
    if len(times) == 0:
        raise ValueError("summarize: expected at least one time, got none")
    q1, median, q3 = np.percentile(np.asarray(times, dtype=float), [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3),
            "min": float(min(times)), "max": float(max(times))}


def speedup(reference_median: float, median: float) -> float:
    """How many times faster than the reference: t_reference / t (inf for a zero time)."""
    return reference_median / median if median > 0 else float("inf")
