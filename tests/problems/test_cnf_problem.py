"""`hodphys run cnf`: a tiny run writes its outputs, resumes bit for bit, refuses bad settings early."""
from __future__ import annotations

import json
import math

import pytest

from hodphys.app.problem_loader import find_problem, run_problem

TINY = ["adam_steps=6", "n_interior=64", "width=16", "hidden_features=4", "n_validation=200", "n_test=300",
        "n_samples=500", "grid_size=40", "grid_extent=6.0", "eval_every=3", "checkpoint_every=2",
        "log_every=1", "method=rk4", "steps=3"]


def test_a_tiny_run_writes_plots_and_metrics(tmp_path):
    run, metrics = run_problem("cnf", overrides=TINY, root=tmp_path)
    names = {p.relative_to(run.dir).as_posix() for p in run.dir.rglob("*")}
    assert {"metrics.json", "metrics.jsonl", "model.pt", "plots/density.png", "plots/loss.png",
            "plots/nfe.png", "checkpoints/step-00000006.pt"} <= names
    assert metrics["steps"] == 6 and metrics["nfe_forward_mean"] == 12 == metrics["nfe_backward_mean"]
    assert abs(metrics["density_mass"] - 1) < 1e-2  # even untrained, the flow is a density
    assert 2 < metrics["test_nll"] < 8 and metrics["nfe_test"] > 0 and metrics["seconds_per_iteration"] > 0
    lines = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "val_nll" in line] == [3, 6]


class Interrupt(BaseException):
    """Stands in for a kill."""


def test_resume_continues_bit_for_bit(tmp_path, monkeypatch):
    overrides = [*TINY, "trace=hutchinson", "kinetic=0.1", "plots=false"]  # the probe draws from the RNG
    _, straight = run_problem("cnf", overrides=overrides, root=tmp_path / "a")
    module = find_problem("cnf")
    original, calls = module.CNFProblem.loss, {"n": 0}

    def loss_then_die(self, model, batch):
        calls["n"] += 1
        if calls["n"] > 3:
            raise Interrupt
        return original(self, model, batch)

    monkeypatch.setattr(module.CNFProblem, "loss", loss_then_die)
    monkeypatch.setattr("hodphys.app.problem_loader.find_problem", lambda name: module)
    with pytest.raises(Interrupt):
        run_problem("cnf", overrides=overrides, root=tmp_path / "b")
    (run_dir,) = (tmp_path / "b").iterdir()
    monkeypatch.setattr(module.CNFProblem, "loss", original)
    _, resumed = run_problem("cnf", resume=run_dir)
    for key in ("final_loss", "test_nll", "val_nll", "density_mass", "steps"):
        assert resumed[key] == straight[key], key


@pytest.mark.parametrize("override, match", [
    ("dataset=mnist", "config key 'dataset': expected one of"),
    ("trace=stochastic", "config key 'trace': expected one of"),
    ("noise=uniform", "config key 'noise': expected one of"),
    ("width=0", "config key 'width': expected an integer ≥ 1"),
    ("grid_extent=0.0", "config key 'grid_extent': expected a finite value > 0"),
    ("method=leapfrog", "config: unknown ODE method='leapfrog'"),
    ("max_cpu_seconds=-1.0", "config key 'max_cpu_seconds': expected a finite time ≥ 0"),
    ("lr_decay_over=time", "config key 'lr_decay_over': expected 'steps' or 'budget'"),
    ("lr_decay_over=budget", "'lr_decay_over' = 'budget' needs a CPU-time budget: set max_cpu_seconds"),
])
def test_bad_settings_fail_before_training(tmp_path, override, match):
    with pytest.raises(ValueError, match=match):
        run_problem("cnf", overrides=[*TINY, override], root=tmp_path)
    assert not list(tmp_path.rglob("*.pt"))


def test_digits_run_writes_sample_images(tmp_path):
    pytest.importorskip("sklearn")
    run, metrics = run_problem("cnf", overrides=[*TINY, "dataset=digits", "adam_steps=2", "n_samples=24"],
                               root=tmp_path)
    assert (run.dir / "plots" / "digits.png").exists() and "density_mass" not in metrics
    assert math.isfinite(metrics["test_nll"])  # nats of x in [0, 1)^64: may be negative


def test_a_cpu_time_budget_stops_training_early(tmp_path):
    run, metrics = run_problem("cnf", overrides=[*TINY, "max_cpu_seconds=1e-9", "plots=false"], root=tmp_path)
    assert metrics["steps"] == 1 and "CPU-time budget of 1e-09 s used up at step 1" in (run.dir / "run.log").read_text()
    assert (run.dir / "checkpoints" / "step-00000001.pt").exists()


def test_the_learning_rate_can_decay_over_the_cpu_time_budget(tmp_path):
    budget, lr, lr_final = 0.3, 1e-2, 1e-3
    run, metrics = run_problem("cnf", overrides=[*TINY, "adam_steps=100000", "eval_every=100000", "plots=false",
                                                 f"max_cpu_seconds={budget}", "lr_decay_over=budget",
                                                 f"lr={lr}", f"lr_final={lr_final}"], root=tmp_path)
    rates = [json.loads(line)["lr"] for line in (run.dir / "metrics.jsonl").read_text().splitlines()
             if '"lr"' in line]
    assert metrics["train_cpu_seconds"] >= budget and len(rates) == metrics["steps"] > 2  # log_every=1
    assert all(a > b for a, b in zip(rates, rates[1:]))  # every step used CPU time: lr falls every step
    assert lr_final < rates[0] < lr and rates[-1] == pytest.approx(lr_final, rel=1e-12)  # ends on the budget


@pytest.mark.slow
def test_two_cpu_processes_train_like_one(tmp_path):
    from tests.train.test_distributed import _torchrun

    overrides = [*TINY, "plots=false", "n_interior=128"]
    _torchrun(["-m", "hodphys", "run", "cnf", *[p for o in overrides for p in ("--set", o)],
               "--runs", str(tmp_path / "two")])
    (run_dir,) = (tmp_path / "two").iterdir()
    two = json.loads((run_dir / "metrics.json").read_text())
    _, one = run_problem("cnf", overrides=overrides, root=tmp_path / "one")
    assert two["world_size"] == 2 and two["steps"] == one["steps"] == 6
    # the same minibatches, sharded, gradients averaged: the same training up to rounding
    assert two["final_loss"] == pytest.approx(one["final_loss"], rel=1e-4)
    assert two["test_nll"] == pytest.approx(one["test_nll"], rel=1e-4)
