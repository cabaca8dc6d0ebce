"""What one CNF training step costs with the RNODE terms on: exact HollowNet trace vs Hutchinson's.

One step is ``flow.loss(x)`` and its backward pass, with the ``hodphys run cnf`` defaults
(HollowNet c = 8, width 32, depth 2; rk4 with 2 steps, 8 evaluations; λ_K = λ_J = 0.1, the
Jacobian term at ``JACOBIAN_FRACTION`` of the evaluations). For each contender it reports

* the process CPU time per step (median of interleaved rounds, one thread) and its ratio to
  Hutchinson's in the same rounds,
* the work counted by :class:`hodphys.bench.studies.pinn_cost.WorkCounter` (matmul MFLOP and tensor
  ops per step, mean over the same seeded steps for every contender), which the machine's load
  does not change.

    python -m hodphys.bench.studies.flows_cost [--dims 2 64] [--rounds 15] [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from hodphys.bench.studies.pinn_cost import WorkCounter
from hodphys.flows import CNF, JACOBIAN_FRACTION, ODEOptions, hollow_dynamics

BATCH = {2: 256, 16: 256, 64: 64, 256: 32}  # the toys' and digits' minibatches; 16, 256 between/beyond
CONTENDERS = {  # name: (trace, λ_K = λ_J, share of the evaluations taking the Jacobian term)
    "hutchinson": ("hutchinson", 0.1, JACOBIAN_FRACTION),
    "exact": ("exact", 0.1, JACOBIAN_FRACTION),
    "exact, Jacobian term at every evaluation": ("exact", 0.1, 1.0),
    "hutchinson, no RNODE terms": ("hutchinson", 0.0, 1.0),
    "exact, no RNODE terms": ("exact", 0.0, 1.0),
}


def training_step(d: int, trace: str, weight: float, share: float) -> Callable[[int], None]:
    """seed ↦ one training step (loss and backward), its probe and draws seeded by ``seed``."""
    torch.manual_seed(0)
    flow = CNF(hollow_dynamics(d, hidden_features=8, width=32, depth=2), trace=trace, kinetic=weight,
               jacobian=weight, jacobian_fraction=share, ode=ODEOptions(method="rk4", steps=2))
    x = torch.randn(BATCH[d], d, generator=torch.Generator().manual_seed(1))

    def step(seed: int) -> None:
        flow.zero_grad(set_to_none=True)
        torch.manual_seed(seed)
        flow.loss(x)[0].backward()
    return step


def measure(d: int, rounds: int, counted: int) -> dict[str, dict[str, float]]:
    steps = {name: training_step(d, *options) for name, options in CONTENDERS.items()}
    out: dict[str, dict[str, float]] = {}
    for name, step in steps.items():
        counter = WorkCounter()
        with counter:
            for seed in range(counted):
                step(seed)
        out[name] = {"mflop": counter.flops / counted / 1e6, "ops": counter.ops / counted}
    times: dict[str, list[float]] = {name: [] for name in steps}
    for round_ in range(rounds + 3):  # three warm-up rounds
        for name, step in steps.items():
            start = time.process_time()
            step(1000 + round_)
            if round_ >= 3:
                times[name].append(time.process_time() - start)
    reference = statistics.median(times["hutchinson"])
    for name, values in times.items():
        out[name] |= {"ms": statistics.median(values) * 1e3, "ratio": statistics.median(values) / reference}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", nargs="+", type=int, default=list(BATCH), choices=list(BATCH))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="d = 2, 2 rounds: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.dims, args.rounds = [2], 2
    torch.set_num_threads(1)
    print("| d | batch | contender | CPU ms per step | / Hutchinson | matmul MFLOP per step | tensor ops per step |\n"
          "|---:|---:|---|---:|---:|---:|---:|", flush=True)
    for d in args.dims:
        for name, row in measure(d, args.rounds, counted=2 if args.quick else 8).items():
            print(f"| {d} | {BATCH[d]} | {name} | {row['ms']:.1f} | {row['ratio']:.2f} | {row['mflop']:.1f} | "
                  f"{row['ops']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
