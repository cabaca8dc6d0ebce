"""The rarer refusals of the run lifecycle, each with the message it gives."""
import json
from dataclasses import dataclass, field

import pytest
import torch

from hodphys import memory_limit
from hodphys.app.problem_loader import run_problem
from hodphys.app.settings import resolve_config
from hodphys.io import run_dirs
from hodphys.io.run_dirs import make_run_dir
from hodphys.io.runs import config_to_toml
from tests.helpers import TINY_POISSON


@dataclass
class Knobs:
    lr: float = 1e-3
    name: str = "x"
    sizes: list[float] = field(default_factory=lambda: [1.0])
    extra: object = None


def test_values_toml_cannot_hold_are_refused_naming_the_key(tmp_path):
    for knobs, key in ((Knobs(lr=float("nan")), "lr"), (Knobs(sizes=[float("inf")]), "sizes"),
                       (Knobs(name="\udcff"), "name"), (Knobs(extra={1, 2}), "extra")):
        with pytest.raises(ValueError, match=rf"config key '{key}': .* cannot be saved in config.toml"):
            config_to_toml(knobs)
    with pytest.raises(ValueError, match=r"config key 'name': expected a string, got \[1\]"):
        (tmp_path / "c.toml").write_text("name = [1]")
        resolve_config(Knobs, tmp_path / "c.toml")


def test_run_directories_of_one_second_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(run_dirs, "MAX_SAME_SECOND", 2)
    made = [make_run_dir(tmp_path, "p", stamp="s") for _ in range(2)]
    assert [p.name for p in made] == ["p-s", "p-s-1"]
    with pytest.raises(ValueError, match=r"--runs .*: 2 run directories named p-s-\* exist already"):
        make_run_dir(tmp_path, "p", stamp="s")


def test_an_unwritable_runs_directory_is_refused(tmp_path, monkeypatch, toy):
    monkeypatch.setattr(run_dirs.os, "access", lambda path, mode: False)
    with pytest.raises(ValueError, match=rf"--runs {tmp_path / 'runs'}: cannot write in {tmp_path} "
                                         rf"\(permission denied\)"):
        run_problem(str(toy), root=tmp_path / "runs")


def test_an_unreadable_run_json_refuses_the_resume(tmp_path, toy):
    run, _ = run_problem(str(toy), root=tmp_path / "runs")
    (run.dir / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"--resume .*: cannot read .*run.json .*expected \{\"problem\": NAME"):
        run_problem(str(toy), resume=run.dir)


def test_an_unknown_derivative_method_is_refused_before_the_run(tmp_path):
    expected = r"config key 'derivative_method': expected 'auto', 'reverse', 'jet' or one of \[.*'autograd'"
    with pytest.raises(ValueError, match=expected):
        run_problem("poisson", overrides=[*TINY_POISSON, "derivative_method=magic"], root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_cuda_availability_counts_torchs_unused_cache(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index=None: (3 * 2**30, 80 * 2**30))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda index=None: 2 * 2**30)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda index=None: 2**30)
    assert memory_limit._read_available("cuda:0") == 4 * 2**30


def test_a_resumed_run_without_run_json_is_still_checked_by_its_keys(tmp_path, toy):
    run, _ = run_problem(str(toy), root=tmp_path / "runs")
    (run.dir / "run.json").unlink()  # a run made before run.json existed
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['fail', 'scale', 'steps'\]"):
        run_problem("poisson", resume=run.dir)
    assert json.loads((run.dir / "status.json").read_text())["status"] == "finished"


@pytest.mark.parametrize("name", ["beam-fom", "beam-fom-dataset", "beam-rom"])
def test_a_cpu_only_problem_refuses_cuda_before_writing(name, tmp_path, capsys):
    """The refusal comes before CUDA is even looked for, as a one-line usage error (exit 2)."""
    from hodphys.app.cli import main
    root = tmp_path / "runs"
    assert main(["run", name, "--device", "cuda", "--runs", str(root)]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and f"--device cuda: problem '{name}' runs on cpu only (" in error
    with pytest.raises(ValueError, match=rf"problem '{name}' runs on cpu only \(.+\); drop --device"):
        run_problem(name, device="cuda:1", root=root)
    assert not root.exists()
