"""Benchmark: HollowNet divergence (the "hollow" engine, 1 backward pass) vs brute force.

Brute force is ``hp.divergence(net, x, method="autograd")``: the trace of torch.func's full
d × d Jacobian of the same network (d forward-mode passes under vmap), run over the batch in
chunks so that its d-fold batched tangents fit in memory (the work is the same; only the peak
memory changes). Both are timed under ``torch.no_grad()`` (inference, e.g. CNF sampling),
repetitions interleaved, medians reported, ``torch.set_num_threads(threads)``.

Plain functions, for ``hodphys bench`` (group "hollow") or ``python -m hodphys.bench.studies.hollow``.
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor

import hodphys as hp
from hodphys.nn import HollowNet

GROWTH_DIMS = (8, 16, 32, 64, 128, 256, 512, 1024)
WIDTH = 32  # conditioner and transformer width of the benchmark net


@dataclass(frozen=True)
class DivergenceTiming:
    """One row: medians in seconds for a batch of ``batch`` points in dimension d."""

    d: int
    batch: int
    conditioner: str
    hollow_s: float
    brute_s: float
    repeats: int
    max_abs_diff: float  # max |hollow − brute| over the batch: both must agree

    @property
    def ratio(self) -> float:
        return self.brute_s / self.hollow_s


def benchmark_net(d: int, conditioner: str = "sum", seed: int = 0) -> HollowNet:
    """The benchmark network: c = 16, width 32, two hidden layers everywhere, softplus."""
    torch.manual_seed(seed)
    return HollowNet(d, hidden_features=16, conditioner=conditioner, width=WIDTH, depth=2,
                     transformer_width=WIDTH, transformer_depth=2)


def brute_force_divergence(net: HollowNet, x: Tensor, budget: int = 2 ** 25) -> Tensor:
    """tr(∂f/∂x) from torch.func's full Jacobian, in batch chunks of ≈ budget/(d²·width) points."""
    d = x.shape[-1]
    chunk = max(1, budget // (d * d * WIDTH))
    return torch.cat([hp.divergence(net, part, method="autograd") for part in x.split(chunk)])


def _seconds(fn: Callable[[], Tensor]) -> tuple[float, Tensor]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def time_divergence(d: int, batch: int, repeats: int = 5, conditioner: str = "sum",
                    threads: int = 1, seed: int = 0) -> DivergenceTiming:
    """Interleaved timings of hollow and brute-force divergence (float32, no_grad).

    Warm-up: the hollow call and brute force on a single point (a full brute-force warm-up would
    cost as much as a measurement); the first timed brute-force result is checked against hollow.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        net = benchmark_net(d, conditioner, seed)
        x = torch.randn(batch, d, generator=torch.Generator().manual_seed(seed))
        hollow = lambda: hp.divergence(net, x, method="hollow")  # noqa: E731
        with torch.no_grad():
            reference, _ = hollow(), brute_force_divergence(net, x[:1])
            hollow_s, brute_s = [], []
            for _ in range(repeats):
                hollow_s.append(_seconds(hollow)[0])
                seconds, brute = _seconds(lambda: brute_force_divergence(net, x))
                brute_s.append(seconds)
    finally:
        torch.set_num_threads(previous)
    return DivergenceTiming(d, batch, conditioner, statistics.median(hollow_s),
                            statistics.median(brute_s), repeats, float((reference - brute).abs().max()))


def growth(dims: Sequence[int] = GROWTH_DIMS, batch: int = 16, repeats: int = 3,
           conditioner: str = "sum", threads: int = 1, large: int = 512) -> Iterator[DivergenceTiming]:
    """How both times grow with d at a fixed batch, row by row; one repetition from d = large on
    (brute force takes minutes there)."""
    for d in dims:
        yield time_divergence(d, batch, repeats if d < large else 1, conditioner, threads)


TABLE_HEADER = ("| d | batch | conditioner | hollow median (s) | brute force median (s) | brute / hollow "
                "| max abs diff |\n|---:|---:|:---|---:|---:|---:|---:|")


def format_row(r: DivergenceTiming) -> str:
    return (f"| {r.d} | {r.batch} | {r.conditioner} | {r.hollow_s:.4g} | {r.brute_s:.4g} | "
            f"{r.ratio:.1f}× | {r.max_abs_diff:.1e} |")


def format_table(rows: Sequence[DivergenceTiming]) -> str:
    """A Markdown table of the rows."""
    return "\n".join([TABLE_HEADER, *map(format_row, rows)])


def main(argv: Sequence[str] | None = None) -> None:
    """The headline (d = 256, batch 512) and the growth table d = 8 … 1024 at batch 16."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, seconds")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions of the cheaper cases")
    args = parser.parse_args(argv)
    if args.quick:
        headline, dims = [(32, 64, "sum", args.repeats), (32, 64, "masked", args.repeats)], (8, 16, 32)
    else:  # brute force at d = 256, batch 512 takes minutes: one repetition
        headline, dims = [(256, 512, "sum", 1), (256, 64, "masked", 1)], GROWTH_DIMS
    print(f"torch {torch.__version__}, float32, threads=1, no_grad, medians of the repetitions")
    print("\n" + TABLE_HEADER)
    for d, batch, conditioner, repeats in headline:
        print(format_row(time_divergence(d, batch, repeats, conditioner)), flush=True)
    print("\n" + TABLE_HEADER)
    for row in growth(dims, batch=16, repeats=args.repeats):
        print(format_row(row), flush=True)


if __name__ == "__main__":
    main()
