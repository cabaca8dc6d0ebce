"""Where one PINN training step's work goes, counted (not timed): hodphys vs hand-written vs DeepXDE.

For each problem of the ``pinn-suite`` bench group and each way of taking the residual's partials
(the group's contenders, eager, and every method forced — the forward jet of exactly the named
partials and declared combinations among them), one training step (loss + ∇θ) runs under a
dispatch counter that records

* matmul MFLOP (2·M·K·N of every mm/addmm/bmm/baddbmm) and matmul calls,
* tensor ops (every ATen op that computes something; views and reshapes are not counted),
* elementwise entries (the output entries of every other op: the memory traffic of σ, σ′, products),

and the CPU time (median of interleaved rounds, one thread). The counts do not depend on the
machine's load, so they say whether a contender does more work than another where timings on a
shared machine cannot.

    python -m hodphys.bench.studies.pinn_cost [--problem burgers --problem heat] [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

from hodphys.bench.cases import pinn_suite
from hodphys.bench.registry import BenchEnv
from hodphys.partials import compute

MATMULS = {"mm": (0, 1), "bmm": (0, 1), "addmm": (1, 2), "baddbmm": (1, 2)}
FREE = {"view", "_unsafe_view", "t", "transpose", "permute", "as_strided", "unsqueeze", "squeeze", "expand",
        "slice", "select", "detach", "alias", "reshape", "split", "unbind", "split_with_sizes", "lift_fresh"}


class WorkCounter(TorchDispatchMode):
    """Counts matmul FLOPs and calls, computing tensor ops and elementwise output entries."""

    def __init__(self):
        super().__init__()
        self.flops = self.matmuls = self.ops = self.entries = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.__name__.split(".")[0]
        if name in FREE:
            return out
        self.ops += 1
        if name in MATMULS:
            a, b = (args[i] for i in MATMULS[name])
            self.flops += 2 * a.numel() * b.shape[-1]
            self.matmuls += 1
        elif isinstance(out, Tensor):
            self.entries += out.numel()
        return out


def steps(name: str, env: BenchEnv) -> dict[str, Callable[[], Tensor]]:
    """The bench case's contenders, every engine forced, and the named-partials jet where it applies."""
    spec = pinn_suite.suite_spec(name, env, compile_contender=False)  # compiled kernels escape the counter
    found = dict(spec.contenders)
    problem, model, batch = pinn_suite.suite_problem(name, env)
    for method in ("jet", "analytic-forward", "analytic-backward", "multicomplex"):
        found[method] = pinn_suite._step(problem, model, batch,
                                         lambda net, x, plan, method=method: compute(net, x, plan, method))
    return found


def count(name: str, env: BenchEnv, rounds: int = 9) -> list[dict]:
    """One row per contender: the counts of one step and its median CPU milliseconds."""
    found = steps(name, env)
    rows = []
    for label, step in found.items():
        step()
        counter = WorkCounter()
        with counter:
            step()
        rows.append({"problem": name, "contender": label, "mflop": counter.flops / 1e6, "matmuls": counter.matmuls,
                     "ops": counter.ops, "entries_m": counter.entries / 1e6})
    times: dict[str, list[float]] = {label: [] for label in found}
    for _ in range(rounds):
        for label, step in found.items():
            start = time.process_time()
            step()
            times[label].append(time.process_time() - start)
    for row in rows:
        row["ms"] = 1e3 * statistics.median(times[row["contender"]])
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| problem | contender | matmul MFLOP | matmul calls | tensor ops | elementwise M entries | CPU ms |",
             "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['problem']} | {r['contender']} | {r['mflop']:.0f} | {r['matmuls']} | {r['ops']} | "
              f"{r['entries_m']:.1f} | {r['ms']:.1f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Count the work of one PINN training step per contender.")
    parser.add_argument("--problem", action="append", choices=sorted(pinn_suite.SUITE))
    parser.add_argument("--quick", action="store_true", help="tiny networks and point sets")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    env = BenchEnv(quick=args.quick)
    rows = [row for name in args.problem or list(pinn_suite.SUITE) for row in count(name, env, args.rounds)]
    print(table(rows))


if __name__ == "__main__":
    main()
