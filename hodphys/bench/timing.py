"""Interleaved timing: every repetition runs each contender once, in a rotating order.

Interleaving spreads the machine's drift (other processes, clock changes, cache state) over
all contenders alike, so the ratios of medians from one run are meaningful even when the
absolute times are noisy.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np


def rotation(names: Sequence[str], repetition: int) -> list[str]:
    """The order of repetition r: names rotated left by r, so each goes first equally often."""
    if not names:
        return []
    shift = repetition % len(names)
    return list(names[shift:]) + list(names[:shift])


def interleaved(contenders: dict[str, Callable[[], object]], repeat: int, warmup: int,
                sync: Callable[[], None] = lambda: None) -> dict[str, list[float]]:
    """Seconds per call of each contender over ``repeat`` timed repetitions after ``warmup`` ones.

    sync() waits for queued device work (e.g. ``torch.cuda.synchronize``) before each clock read.
    Returns name → ``repeat`` times, in the order they were taken.
    """
    if repeat < 1 or warmup < 0:
        raise ValueError(f"interleaved: expected repeat ≥ 1 and warmup ≥ 0, got repeat={repeat}, warmup={warmup}")
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for repetition in range(warmup + repeat):
        for name in rotation(list(contenders), repetition):
            sync()
            start = time.perf_counter()
            contenders[name]()
            sync()
            if repetition >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


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
