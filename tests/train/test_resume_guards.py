"""What --resume refuses and repairs: settings the checkpoints fixed, problems that restart,
metrics of a run that never checkpointed, damaged later checkpoints, a finished run's final loss."""
import json
import os
import stat

import pytest
import torch

from hodphys.app.problem_loader import run_problem
from hodphys.io.runs import atomic_write, check_device
from hodphys.train.checkpoint import checkpoint_path, latest_checkpoint, save_checkpoint
from tests.helpers import TINY_POISSON


def test_resume_refuses_settings_the_checkpoints_fixed_and_keeps_the_saved_config(tmp_path):
    run, _ = run_problem("poisson", overrides=TINY_POISSON, root=tmp_path)
    saved = (run.dir / "config.toml").read_text()
    for change in (["widths=[8]"], ["lr=0.01"], ["dtype=float16"], ["adam_steps=7"]):
        key = change[0].split("=")[0]
        with pytest.raises(ValueError, match=rf"--resume .*cannot change {key}: .*start a new run"):
            run_problem("poisson", resume=run.dir, overrides=change)
        assert (run.dir / "config.toml").read_text() == saved


def test_problems_that_restart_refuse_resume(tmp_path):
    with pytest.raises(ValueError, match="problem 'beam-fom' cannot continue a run"):
        run_problem("beam-fom", resume=tmp_path)


def test_a_resume_without_checkpoints_does_not_repeat_metrics_lines(tmp_path):
    run, _ = run_problem("poisson", overrides=TINY_POISSON, root=tmp_path)
    for path in (run.dir / "checkpoints").iterdir():
        path.unlink()
    _, again = run_problem("poisson", resume=run.dir)
    steps = [json.loads(line)["step"] for line in (run.dir / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == sorted(set(steps))


def test_damaged_later_checkpoints_never_push_out_the_new_one(tmp_path):
    for step in (900, 1000):
        checkpoint_path(tmp_path, step).write_bytes(b"garbage")
    path = save_checkpoint(tmp_path, 100, {"step": 100}, keep=2)
    assert path.exists() and sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert latest_checkpoint(tmp_path)[1] == {"step": 100}


def test_a_finished_run_resumed_keeps_its_final_loss(tmp_path):
    run, first = run_problem("poisson", overrides=TINY_POISSON, root=tmp_path)
    _, again = run_problem("poisson", resume=run.dir)
    assert again["final_loss"] == first["final_loss"] and again["final_loss"] is not None
    json.loads((run.dir / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


def test_newton_krylov_settings_are_checked_before_training(tmp_path):
    with pytest.raises(ValueError, match="nk_target"):
        run_problem("poisson", overrides=[*TINY_POISSON, "optimizer=newton-krylov", "nk_target=5"], root=tmp_path)


def test_files_written_atomically_are_as_readable_as_open_would_make_them(tmp_path):
    path = atomic_write(tmp_path / "a.txt", lambda f: f.write("x"), binary=False)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


@pytest.mark.parametrize("device", ["mps", "meta", "xyz"])
def test_only_cpu_and_cuda_devices_are_accepted(device):
    with pytest.raises(ValueError, match="expected cpu, cuda or cuda:N"):
        check_device(device)
    assert check_device("cpu") == torch.device("cpu")


def test_too_few_points_for_the_newton_krylov_minibatches_is_named(tmp_path):
    overrides = [*TINY_POISSON, "adam_steps=2", "optimizer=newton-krylov", "nk_batches=4", "n_boundary=3"]
    with pytest.raises(ValueError, match=r"too few points: \{'boundary': 3, 'boundary_values': 3\} rows for 4 "
                                         r"Newton–Krylov minibatches"):
        run_problem("poisson", overrides=overrides, root=tmp_path)
