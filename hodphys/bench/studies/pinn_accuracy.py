"""Final error of every built-in PINN problem: hodphys vs DeepXDE 1.15 at the same budget.

For each problem both frameworks train the same network layout (d → widths → m, tanh), on the
same numbers of interior/boundary points (redrawn every ``resample_every`` Adam steps, then
``finetune_points`` for L-BFGS), with the same loss terms and weights, the same Adam schedule
(lr → lr_final, exponential) and the same L-BFGS iterations and history: hodphys through
``hodphys run``'s own path (the problem's ``main``), DeepXDE through ``dde.Model``
(:mod:`hodphys.bench.references.deepxde_pinn`). Both are scored by the problem's own metric
(relative L2 against its reference, at its evaluation points), plus the recovered coefficient of
an inverse problem. One thread.

    python -m hodphys.bench.studies.pinn_accuracy                       # the default budgets
    python -m hodphys.bench.studies.pinn_accuracy --set adam_steps=500 --set optimizer_steps=300 \\
        --problem burgers --problem heat                                 # a smaller budget
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import tempfile
import time
from typing import Any

import torch

from hodphys.bench.references.deepxde import deepxde_available
from hodphys.bench.references import deepxde_pinn
from hodphys.io.resources import PROBLEMS_DIR, load_python_file
from hodphys.io.runs import Run

PROBLEMS = {"burgers": "burgers.py", "poisson-lshape": "poisson_lshape.py", "kovasznay": "kovasznay.py",
            "heat": "heat.py", "diffusion-inverse": "diffusion_inverse.py", "wave": "wave.py"}


def _config(name: str, overrides: list[str]):
    """The problem module and its Config with ``key=value`` overrides (Python literals), one thread, no plots."""
    module = load_python_file(PROBLEMS_DIR / PROBLEMS[name], f"hodphys_study_problem_{name}")
    values = {"threads": 1, "plots": False}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected key=value")
        try:
            values[key.strip()] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            values[key.strip()] = text.strip()
    return module, dataclasses.replace(module.Config(), **values)


def run_hodphys(name: str, overrides: list[str], root: str) -> dict[str, Any]:
    """The problem's own ``main`` (what ``hodphys run`` calls) in a scratch run directory."""
    module, config = _config(name, overrides)
    run = Run.create(module.NAME, config, root=root)
    start = time.process_time()
    try:
        metrics = module.main(config, run)
    finally:
        run.close()
    return {**_scores(metrics), "cpu_s": time.process_time() - start}


def run_deepxde(name: str, overrides: list[str]) -> dict[str, Any]:
    """The problem translated to DeepXDE and trained by its ``dde.Model`` at the same budget."""
    module, config = _config(name, overrides)
    problem = module.problem(config)
    net, coefficients, seconds = deepxde_pinn.train(problem)
    net.eval()
    metrics = problem.metrics(net)
    metrics.update({f"coefficient_{k}": v for k, v in coefficients.items()})
    return {**_scores(metrics), "cpu_s": seconds}


def _scores(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = {"rel_l2_mean": metrics.get("rel_l2_mean")}
    keep.update({k: v for k, v in metrics.items() if k.startswith("coefficient_")})
    return keep


def compare(problems: list[str], overrides: list[str]) -> list[dict[str, Any]]:
    """One row per problem and framework: rel. L2 (mean over outputs), coefficients, CPU seconds."""
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for name in problems:
            rows.append({"problem": name, "framework": "hodphys", **run_hodphys(name, overrides, root)})
            if deepxde_available():
                rows.append({"problem": name, "framework": "DeepXDE", **run_deepxde(name, overrides)})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per problem, each framework's error and the ratio DeepXDE / hodphys."""
    lines = ["| problem | framework | rel. L2 (mean) | coefficients | CPU s | DeepXDE error / hodphys error |",
             "|---|---|---:|---|---:|---:|"]
    ours = {r["problem"]: r["rel_l2_mean"] for r in rows if r["framework"] == "hodphys"}
    for r in rows:
        coefficients = ", ".join(f"{k[12:]} = {v:.4g}" for k, v in r.items() if k.startswith("coefficient_")) or "—"
        ratio = f"{r['rel_l2_mean'] / ours[r['problem']]:.2f}" if r["framework"] == "DeepXDE" else ""
        lines.append(f"| {r['problem']} | {r['framework']} | {r['rel_l2_mean']:.2e} | {coefficients} | "
                     f"{r['cpu_s']:.0f} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Final error of the built-in PINN problems, hodphys vs DeepXDE "
                                     "at the same budget (network, points, loss terms, steps).")
    parser.add_argument("--problem", action="append", choices=sorted(PROBLEMS),
                        help="a problem to run (repeatable; default: all)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for both frameworks, e.g. adam_steps=500 (repeatable)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    rows = compare(args.problem or list(PROBLEMS), args.set)
    print(table(rows))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
