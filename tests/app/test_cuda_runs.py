"""Every trainable built-in problem, a few steps on CUDA: the run finishes, its model and metrics
live where they should, and the metrics are finite (skipped where there is no GPU)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from hodphys.app.problem_loader import run_problem

DEVICE = "cuda"

PINN = ["n_interior=32", "n_boundary=16", "widths=[8]", "adam_steps=3", "optimizer_steps=2", "lbfgs_chunk=1",
        "grid_size=11", "eval_points=50", "threads=1"]
TINY = {
    "burgers": PINN, "heat": PINN, "kovasznay": PINN, "poisson-lshape": PINN, "wave": PINN,
    "diffusion-inverse": PINN,
    "poisson-nd": ["dim=3", "widths=[8]", "n_interior=64", "n_boundary=32", "adam_steps=3", "optimizer_steps=2",
                   "eval_points=50", "grid_size=11", "plots=false", "threads=1"],
    "cnf": ["adam_steps=3", "n_interior=64", "width=16", "hidden_features=4", "n_validation=100", "n_test=100",
            "n_samples=200", "grid_size=20", "eval_every=3", "method=rk4", "steps=3"],
    "fokker-planck-ou": ["adam_steps=3", "optimizer_steps=2", "widths=[8]", "n_interior=64", "grid_size=21"],
    "fokker-planck": ["n_per_time=40", "simulation_dt=0.05", "times=[0.0, 0.3, 0.6]", "held_out_times=[0.45]",
                      "components=2", "hollow_width=8", "hidden_features=2", "n_interior=16", "adam_steps=3",
                      "eval_every=100"],
}


def _finite_numbers(metrics: dict) -> list[str]:
    """Names of the metrics that are numbers but not finite."""
    return [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]


@pytest.mark.cuda
@pytest.mark.parametrize("name", sorted(TINY))
def test_a_short_run_on_cuda(name, tmp_path):
    run, metrics = run_problem(name, overrides=TINY[name], device=DEVICE, root=tmp_path)
    assert metrics["steps"] > 0 and not _finite_numbers(metrics)
    saved = json.loads((run.dir / "metrics.json").read_text())
    assert saved["steps"] == metrics["steps"]
    checkpoints = sorted((run.dir / "checkpoints").glob("*.pt"))
    assert checkpoints, "a run on CUDA writes checkpoints like one on the CPU"
    state = torch.load(checkpoints[-1], map_location="cpu", weights_only=False)
    assert all(torch.isfinite(t).all() for t in _tensors(state) if t.is_floating_point())


def _tensors(state) -> list[torch.Tensor]:
    """Every tensor in a nested checkpoint dict."""
    if torch.is_tensor(state):
        return [state]
    if isinstance(state, dict):
        return [t for v in state.values() for t in _tensors(v)]
    if isinstance(state, (list, tuple)):
        return [t for v in state for t in _tensors(v)]
    return []
