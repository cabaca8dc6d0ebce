"""Training with config key ``compile``: what "auto" decides, a compiled run resumed bit for bit, the eager
fallback when compilation fails. Compiled runs here use the aot_eager backend (the same tracing as
inductor, forward and backward, without code generation): seconds instead of a minute."""
import json

import pytest
from torch import nn

from hodphys.app.problem_loader import find_problem, run_problem
from hodphys.train import compiled

TINY_HEAT = ["widths=[8, 8]", "n_interior=64", "n_boundary=16", "adam_steps=30", "optimizer_steps=20",
             "lbfgs_chunk=5", "checkpoint_every=10", "log_every=5", "eval_every=10", "grid_size=11",
             "threads=1", "plots=false"]
RESULT = ("rel_l2_mean", "final_loss", "steps")


@pytest.fixture
def fast_backend(monkeypatch):
    monkeypatch.setattr(compiled, "BACKEND", "aot_eager")


def heat(**changes):
    module = find_problem("heat")
    config = module.Config(**changes)
    problem = module.problem(config)
    return problem, problem.build_model(), config


def test_auto_compiles_traceable_runs_long_enough_to_repay_it():
    problem, model, config = heat()
    assert problem.compile_friendly(model)
    assert not compiled.wanted(problem, model, config)  # the default heat run: ~3 s to save, ~35 s to compile
    long = heat(adam_steps=40000)[2]
    assert compiled.wanted(problem, model, long)
    assert compiled.compilations(long) == 1 and compiled.compilations(heat(finetune_points=4000)[2]) == 2
    assert compiled.wanted(problem, model, heat(compile="on")[2])
    assert not compiled.wanted(problem, model, heat(compile="off", adam_steps=40000)[2])
    for changes in ({"derivative_method": "reverse"}, {"derivative_method": "analytic-forward"}):
        assert not compiled.wanted(*heat(compile="on", **changes))
    unsupported = nn.Sequential(nn.Linear(2, 4), nn.LayerNorm(4), nn.Linear(4, 1))
    assert not compiled.wanted(problem, unsupported, heat(compile="on")[2])


def test_a_bad_compile_value_is_named():
    with pytest.raises(ValueError, match=r"config key 'compile': expected one of \['auto', 'on', 'off'\]"):
        run_problem("heat", overrides=[*TINY_HEAT, "compile=yes"])


class Interrupt(BaseException):
    """Stands in for a kill right after a checkpoint."""


def test_a_compiled_run_resumes_bit_for_bit(tmp_path, monkeypatch, fast_backend):
    overrides = [*TINY_HEAT, "compile=on"]
    _, straight = run_problem("heat", overrides=overrides, root=tmp_path / "a")
    assert straight["compiled"] and straight["compile_cpu_seconds"] > 0
    from hodphys.train import trainer

    saved, original = {"n": 0}, trainer.save_checkpoint

    def save_then_die(*args, **kwargs):
        path = original(*args, **kwargs)
        saved["n"] += 1
        if saved["n"] == 4:  # step 40: inside L-BFGS
            raise Interrupt
        return path

    monkeypatch.setattr(trainer, "save_checkpoint", save_then_die)
    with pytest.raises(Interrupt):
        run_problem("heat", overrides=overrides, root=tmp_path / "b")
    monkeypatch.setattr(trainer, "save_checkpoint", original)
    (run_dir,) = (tmp_path / "b").iterdir()
    _, resumed = run_problem("heat", resume=run_dir)
    assert resumed["compiled"] and "resumed from" in (run_dir / "run.log").read_text()
    assert {k: resumed[k] for k in RESULT} == {k: straight[k] for k in RESULT}


def test_a_failed_compilation_logs_one_line_and_trains_eagerly(tmp_path, monkeypatch):
    def broken(fn, **kwargs):
        def call(*args):
            raise RuntimeError("no compiler here")
        return call

    monkeypatch.setattr(compiled.torch, "compile", broken)
    run, metrics = run_problem("heat", overrides=[*TINY_HEAT, "compile=on"], root=tmp_path / "a")
    _, eager = run_problem("heat", overrides=[*TINY_HEAT, "compile=off"], root=tmp_path / "b")
    log = (run.dir / "run.log").read_text()
    assert log.count("torch.compile of the loss failed (RuntimeError: no compiler here)") == 1
    assert not metrics["compiled"] and not eager["compiled"]
    assert {k: metrics[k] for k in RESULT} == {k: eager[k] for k in RESULT}
    assert json.loads((run.dir / "metrics.json").read_text())["compiled"] is False
