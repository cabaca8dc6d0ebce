"""Equal CPU-time budget: the exact-trace and the Hutchinson-trained CNF of the same size, by test NLL.

For each data set and seed, ``hodphys run cnf`` trains the same HollowNet CNF twice — once with the
exact trace, once with Hutchinson's — under the same CPU-time budget, and both are evaluated the same
way (exact trace, dopri5 at the problem's ``eval_atol``/``eval_rtol``, the same test set). Fair by
construction:

* same seeds (initial weights, minibatches, test set), same network, ODE, RNODE terms and optimizer;
* the budget counts the training steps' process CPU time (the Trainer's ``max_cpu_seconds``), never
  the evaluation; each run is its own single-threaded process;
* both runs stop on the budget, not on a step count, and the learning rate decays from ``lr`` to
  ``lr_final`` over the fraction of the budget used (``lr_decay_over=budget``), so each estimator's
  schedule ends where its budget does, whatever its steps cost — no calibration to get wrong; a run
  that used less than ``USED`` of its budget is an error, not a row;
* results are means over seeds with their standard error, and the per-seed difference.

``python -m hodphys.bench.studies.flows`` prints the markdown table (about 4 × 2 × 3 runs of the
budget plus their evaluations; ``--jobs 2`` runs two at a time, ``--quick`` is a smoke test).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TRACES = ("exact", "hutchinson")
DATASETS = ("8gaussians", "pinwheel", "checkerboard", "digits")
EXTRA = {"digits": {"n_interior": 64}}  # the digits minibatch (d = 64): 64 rows
NEVER = 10**9  # steps between validations and checkpoints: none inside the budget
UNLIMITED = 10**8  # adam_steps of a study run: the CPU-time budget ends it
USED = 0.98  # the least fraction of the budget each run must have trained for


def run_cnf(runs: Path, settings: dict[str, object]) -> dict:
    """metrics.json of ``hodphys run cnf --set key=value …`` in a fresh directory under runs."""
    target = Path(tempfile.mkdtemp(dir=runs))
    command = [sys.executable, "-m", "hodphys", "run", "cnf", "--runs", str(target)]
    for key, value in settings.items():
        command += ["--set", f"{key}={value}"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    (metrics,) = target.glob("*/metrics.json")
    return json.loads(metrics.read_text())


def _base(dataset: str, seed: int) -> dict[str, object]:
    """Settings shared by both estimators: no validation, checkpoint or plot inside the budget, a
    small density grid and sample (the study reads only the test NLL)."""
    return {"dataset": dataset, "seed": seed, "threads": 1, "plots": "false", "eval_every": NEVER,
            "checkpoint_every": NEVER, "n_samples": 100, "grid_size": 16, **EXTRA.get(dataset, {})}


def budget_settings(dataset: str, seed: int, trace: str, budget: float) -> dict[str, object]:
    """One run of the study: trained until ``budget`` CPU seconds are used, lr decayed over them."""
    return _base(dataset, seed) | {"trace": trace, "adam_steps": UNLIMITED, "max_cpu_seconds": budget,
                                   "lr_decay_over": "budget"}


def check_budget_used(metrics: dict, budget: float, what: str) -> None:
    """RuntimeError unless the run trained for at least ``USED`` × budget CPU seconds."""
    if metrics["train_cpu_seconds"] < USED * budget:
        raise RuntimeError(f"{what}: trained {metrics['train_cpu_seconds']:.1f} of its {budget:g} CPU s "
                           f"({metrics['steps']} steps); the comparison needs ≥ {USED:.0%} of the budget")


def compare(runs: Path, dataset: str, seeds: list[int], budget: float, jobs: int) -> dict[str, dict]:
    """Per estimator and seed: the test NLL, the steps taken and the training CPU seconds."""
    tasks = [(trace, seed) for seed in seeds for trace in TRACES]
    settings = [budget_settings(dataset, seed, trace, budget) for trace, seed in tasks]
    with ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(lambda s: run_cnf(runs, s), settings))
    out = {trace: {"nll": [], "steps": [], "cpu": []} for trace in TRACES}
    for (trace, seed), metrics in zip(tasks, results):
        check_budget_used(metrics, budget, f"{dataset}, {trace} trace, seed {seed}")
        out[trace]["nll"].append(metrics["test_nll"])
        out[trace]["steps"].append(metrics["steps"])
        out[trace]["cpu"].append(metrics["train_cpu_seconds"])
    return out


def _mean_se(values: list[float]) -> str:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {statistics.stdev(values) / math.sqrt(len(values)):.3f}"


def table_row(dataset: str, budget: float, result: dict[str, dict]) -> str:
    exact, hutchinson = result["exact"], result["hutchinson"]
    differences = [e - h for e, h in zip(exact["nll"], hutchinson["nll"])]
    won = statistics.fmean(exact["nll"]) <= statistics.fmean(hutchinson["nll"])
    steps = [f"{statistics.fmean(r['steps']):.0f} ({statistics.fmean(r['cpu']):.1f} s)" for r in (exact, hutchinson)]
    per_step = [statistics.fmean(c / n for c, n in zip(r["cpu"], r["steps"])) for r in (exact, hutchinson)]
    nll = [_mean_se(exact["nll"]), _mean_se(hutchinson["nll"])]
    nll[0 if won else 1] = f"**{nll[0 if won else 1]}**"  # the lower mean
    return (f"| {dataset} | {budget:g} | {len(differences)} | {steps[0]} | {nll[0]} | "
            f"{steps[1]} | {nll[1]} | {_mean_se(differences)} | "
            f"{sum(d <= 0 for d in differences)}/{len(differences)} | {'yes' if won else 'no'} | "
            f"{per_step[0] / per_step[1]:.2f} |")


HEADER = ("| data | budget (CPU s) | seeds | exact: steps (CPU s) | exact: test NLL | Hutchinson: steps (CPU s) | "
          "Hutchinson: test NLL | exact − Hutchinson | seeds exact ≤ | exact ≤ Hutchinson (mean) | "
          "CPU s per step, exact / Hutchinson |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=45.0, help="training CPU seconds per run")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (each one thread)")
    parser.add_argument("--quick", action="store_true", help="one seed, 3 s budget: a smoke test")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.budget = args.seeds[:1], 3.0
    results = {}
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory() as runs:
        for dataset in args.datasets:
            results[dataset] = compare(Path(runs), dataset, args.seeds, args.budget, args.jobs)
            print(table_row(dataset, args.budget, results[dataset]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"budget": args.budget, "seeds": args.seeds, "results": results}, indent=1))


if __name__ == "__main__":
    main()
