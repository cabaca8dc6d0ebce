"""Configs, run directories and problem discovery behind `hodphys run`."""
import json
import textwrap
from dataclasses import dataclass, field

import pytest

from hodphys.app.settings import resolve_config
from hodphys.io.runs import config_to_toml
from hodphys.app.problem_loader import find_problem, known_problems, load_problem_file, run_problem
from hodphys.io.runs import atomic_write
from hodphys.train.config import TrainConfig


@dataclass
class Config:
    dim: int = 5
    lr: float = 1e-3
    name: str = "x"
    adam: bool = True
    widths: list[int] = field(default_factory=lambda: [10, 10])
    seed: int = 0


def test_overrides_are_typed_from_the_dataclass(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("dim = 7\nwidths = [3, 4, 5]\n")
    cfg = resolve_config(Config, toml, ["lr=2e-2", "adam=false", "dim=1e2", "name=poisson"])
    assert cfg == Config(dim=100, lr=0.02, name="poisson", adam=False, widths=[3, 4, 5])
    assert resolve_config(Config, None, ["widths=8,9"]).widths == [8, 9]
    assert resolve_config(Config, None, ["widths=[1, 2]"]).widths == [1, 2]


def test_resolved_config_round_trips_through_toml(tmp_path):
    cfg = Config(dim=3, lr=0.5, name='a "b"', adam=False, widths=[1])
    (tmp_path / "c.toml").write_text(config_to_toml(cfg))
    assert resolve_config(Config, tmp_path / "c.toml") == cfg


def test_bad_overrides_name_the_key():
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['dimm'\] for Config; known keys"):
        resolve_config(Config, None, ["dimm=3"])
    with pytest.raises(ValueError, match="config key 'dim': expected an integer, got '2.5'"):
        resolve_config(Config, None, ["dim=2.5"])
    with pytest.raises(ValueError, match="config key 'adam': expected a boolean"):
        resolve_config(Config, None, ["adam=maybe"])
    with pytest.raises(ValueError, match="expected key=value"):
        resolve_config(Config, None, ["dim"])


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "m.json"
    target.write_text("old")

    def broken(handle):
        handle.write(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


PROBLEM = textwrap.dedent('''
    from __future__ import annotations
    from dataclasses import dataclass
    import torch
    NAME = "toy"
    DESCRIPTION = "a toy problem"

    @dataclass
    class Config:
        steps: int = 3
        seed: int = 1

    def main(config, run):
        total = 0.0
        for step in run.progress(range(config.steps), desc="toy"):
            total += float(torch.rand(()))
            run.append_metrics(step=step, total=total)
        run.path("plots", "a.txt").write_text("plot")
        return {"total": total, "steps": config.steps}
''')


def test_a_user_script_runs_like_a_builtin_problem(tmp_path):
    script = tmp_path / "toy.py"
    script.write_text(PROBLEM)
    run, metrics = run_problem(str(script), overrides=["steps=4"], root=tmp_path / "runs")
    assert run.dir.parent == tmp_path / "runs" and run.dir.name.startswith("toy-")
    assert json.loads((run.dir / "metrics.json").read_text()) == metrics and metrics["steps"] == 4
    assert len((run.dir / "metrics.jsonl").read_text().splitlines()) == 4
    assert "steps = 4" in (run.dir / "config.toml").read_text()
    assert "starting run toy" in (run.dir / "run.log").read_text()
    assert (run.dir / "plots" / "a.txt").exists()
    # same seed → same numbers; resume reuses the directory and its config
    _, again = run_problem(str(script), overrides=["steps=4"], root=tmp_path / "runs")
    assert again == metrics
    resumed, _ = run_problem(str(script), resume=run.dir)
    assert resumed.dir == run.dir and resumed.resumed


def test_problem_discovery_errors(tmp_path):
    (tmp_path / "bad.py").write_text("NAME = 'bad'\n")
    message = r"must define NAME, Config and main\(config, run\); missing \['Config', 'main'\]"
    with pytest.raises(ValueError, match=message):
        load_problem_file(tmp_path / "bad.py")
    (tmp_path / "nodc.py").write_text("NAME='n'\nclass Config: pass\ndef main(c, r): pass\n")
    with pytest.raises(ValueError, match="Config must be a @dataclass"):
        load_problem_file(tmp_path / "nodc.py")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_problem_file(tmp_path / "missing.py")
    with pytest.raises(ValueError, match="unknown problem 'nope'"):
        find_problem("nope")
    (tmp_path / "toy.py").write_text(PROBLEM)
    with pytest.raises(ValueError, match="no such run directory"):
        run_problem(str(tmp_path / "toy.py"), resume=tmp_path / "none")
    assert known_problems(tmp_path / "empty") == {}


def test_known_problems_reads_names_without_importing_and_falls_back(tmp_path):
    """Literal NAMEs are read from the source, so one broken problem file does not stop the others
    being found; a computed NAME is found by importing that file."""
    (tmp_path / "literal.py").write_text('NAME = "lit"\nDESCRIPTION = "one line"\nraise RuntimeError("ran")\n')
    (tmp_path / "computed.py").write_text(PROBLEM.replace('NAME = "toy"', 'NAME = "to" + "y2"'))
    (tmp_path / "_helper.py").write_text("raise RuntimeError('helpers are skipped')\n")
    assert known_problems(tmp_path) == {"toy2": tmp_path / "computed.py", "lit": tmp_path / "literal.py"}


def test_cli_run_and_list(tmp_path, capsys):
    from hodphys.app.cli import main

    script = tmp_path / "toy.py"
    script.write_text(PROBLEM)
    assert main(["run", str(script), "--set", "steps=2", "--runs", str(tmp_path / "runs")]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "metrics.json").read_text())["steps"] == 2
    assert main(["list"]) == 0
    assert main(["run", str(script), "--set", "nope=1", "--runs", str(tmp_path / "runs")]) == 2
    assert "unknown config key(s) ['nope']" in capsys.readouterr().err
    assert main(["run", "no-such-problem"]) == 2
    assert "unknown problem 'no-such-problem'; known:" in capsys.readouterr().err


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda_is_a_clear_error(tmp_path):
    script = tmp_path / "toy.py"
    script.write_text(PROBLEM)
    with pytest.raises(ValueError, match="--device cuda: CUDA is not available on this machine"):
        run_problem(str(script), device="cuda", root=tmp_path)
    with pytest.raises(ValueError, match="expected cpu, cuda or cuda:N"):
        run_problem(str(script), device="gpu", root=tmp_path)


def test_toml_values_of_the_wrong_shape_name_the_key(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("widths = 8\n")
    with pytest.raises(ValueError, match=r"config key 'widths': expected a list, e.g. \[8\], got 8"):
        resolve_config(TrainConfig, path)
    with pytest.raises(ValueError, match="config key 'seed': expected an integer smaller than 2\\*\\*63"):
        resolve_config(TrainConfig, None, ["seed=1e20"])
    path.write_text("widths = [8,\n")
    with pytest.raises(ValueError, match=r"--config .*c\.toml: cannot read it as TOML"):
        resolve_config(TrainConfig, path)
