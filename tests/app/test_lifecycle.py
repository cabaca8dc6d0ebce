"""Issue 16, items 1–4: a bad command never damages a run, nothing is written before every check."""
import json
import multiprocessing
from dataclasses import dataclass

import pytest

from hodphys.app.problem_loader import find_problem, known_problems, run_problem
from hodphys.errors import MemoryLimitError
from hodphys.io.runs import Run
from tests.app.conftest import TOY, snapshot
from tests.helpers import TINY_POISSON


def test_the_run_directory_records_which_problem_made_it(tmp_path, toy):
    run, _ = run_problem(str(toy), root=tmp_path / "runs")
    made_by = json.loads((run.dir / "run.json").read_text())
    assert made_by["problem"] == "toy" and made_by["file"] == str(toy.resolve())
    assert json.loads((run.dir / "status.json").read_text())["status"] == "finished"


def test_resume_by_another_problem_is_refused_naming_both_before_anything_is_written(tmp_path, toy):
    run, _ = run_problem(str(toy), root=tmp_path / "runs")
    before = snapshot(run.dir)
    with pytest.raises(ValueError, match=rf"made by problem 'toy' \({toy.resolve()}\), not by 'poisson' "
                                         rf"\(.*poisson_pinn.py\); resume it with: hodphys run {toy.resolve()}"):
        run_problem("poisson", resume=run.dir)
    assert snapshot(run.dir) == before
    _, again = run_problem(str(toy), resume=run.dir)  # its own problem still resumes it
    assert again["total"] > 0


def test_a_problem_of_the_same_name_in_another_file_is_another_problem(tmp_path, toy):
    run, _ = run_problem(str(toy), root=tmp_path / "runs")
    impostor = tmp_path / "elsewhere" / "toy.py"
    impostor.parent.mkdir()
    impostor.write_text(TOY.replace("total = 0.0", "total = 1.0"))
    before = snapshot(run.dir)
    with pytest.raises(ValueError, match="made by problem 'toy'.*not by 'toy'"):
        run_problem(str(impostor), resume=run.dir)
    assert snapshot(run.dir) == before
    toy.write_text(TOY + "\n# edited in place\n")  # the same file, edited: still the run's problem
    run_problem(str(toy), resume=run.dir)


@pytest.mark.parametrize("bad", ["scale=nan", "scale=inf", "scale=-inf", "steps=0", "steps=1e30"])
def test_a_new_run_with_a_bad_value_makes_no_directory(tmp_path, toy, bad):
    with pytest.raises(ValueError, match="config key|cannot be saved"):
        run_problem(str(toy), overrides=[bad], root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_training_values_are_checked_before_the_run_directory_exists(tmp_path):
    for bad in (["lr=nan"], ["checkpoint_every=0"], ["boundary_weight=inf"]):
        with pytest.raises(ValueError, match="config key"):
            run_problem("poisson", overrides=[*TINY_POISSON, *bad], root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_a_refused_resume_leaves_the_run_resumable(tmp_path):
    run, first = run_problem("poisson", overrides=TINY_POISSON, root=tmp_path)
    before = snapshot(run.dir)
    for bad in (["checkpoint_every=0"], ["lr=nan"], ["eval_every=-1"]):
        with pytest.raises(ValueError, match="config key"):
            run_problem("poisson", resume=run.dir, overrides=bad)
        assert snapshot(run.dir) == before
    _, again = run_problem("poisson", resume=run.dir)  # a plain resume still works
    assert again["steps"] == first["steps"]


def test_a_finished_run_cannot_be_shortened(tmp_path):
    run, first = run_problem("poisson", overrides=TINY_POISSON, root=tmp_path)  # 60 Adam + 60 L-BFGS
    before = snapshot(run.dir)
    with pytest.raises(ValueError, match=r"reached step 120, but adam_steps=60 \+ optimizer_steps=5 ends it at "
                                         r"step 65; a run cannot be shortened: use optimizer_steps ≥ 60"):
        run_problem("poisson", resume=run.dir, overrides=["optimizer_steps=5"])
    assert snapshot(run.dir) == before
    _, longer = run_problem("poisson", resume=run.dir, overrides=["optimizer_steps=70"])
    assert longer["steps"] == 130 and longer["stages"]["lbfgs"] == [60, 130]


def test_resume_removes_temporaries_an_interrupted_write_left(tmp_path, toy):
    run, _ = run_problem(str(toy), root=tmp_path / "runs")
    stale = [run.dir / ".config.toml.k2j3.tmp", run.dir / "checkpoints" / ".step-00000020.pt.x9.tmp"]
    stale[1].parent.mkdir()
    for path in stale:
        path.write_bytes(b"torn")
    run_problem(str(toy), resume=run.dir)
    assert not any(path.exists() for path in stale)
    assert "removed" in (run.dir / "run.log").read_text()


@dataclass
class Small:
    seed: int = 0


def _create_in_the_same_second(root, barrier, queue):
    import pathlib
    import time

    time.strftime = lambda fmt, *args: "20260101-000000"  # every process starts "in the same second"
    exists = pathlib.Path.exists
    # widen the race to its worst case: every process looks before any has made its directory
    pathlib.Path.exists = lambda self: False if self.name.startswith("race-") else exists(self)
    barrier.wait()
    try:
        queue.put(str(Run.create("race", Small(), root=root).dir))
    except BaseException as err:  # reported to the parent, which fails the test
        queue.put(f"failed: {type(err).__name__}: {err}")


def test_processes_starting_in_the_same_second_get_their_own_directories(tmp_path):
    context = multiprocessing.get_context("fork")
    n = 6
    barrier, queue = context.Barrier(n), context.Queue()
    workers = [context.Process(target=_create_in_the_same_second, args=(tmp_path, barrier, queue))
               for _ in range(n)]
    for worker in workers:
        worker.start()
    made = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert not [m for m in made if m.startswith("failed")], made
    assert len(set(made)) == n and all(p.startswith(str(tmp_path / "race-20260101-000000")) for p in made)


@pytest.mark.parametrize("problem,bad", [("poisson", "outputs=0"), ("poisson-nd", "dim=0")])
def test_the_shipped_problems_check_their_own_values_before_the_run(tmp_path, problem, bad):
    with pytest.raises(ValueError, match=f"config key '{bad.split('=')[0]}': expected an integer ≥ 1, got 0"):
        run_problem(problem, overrides=[bad], root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


# one bad value of each shipped problem's own keys (the shared training keys have their own tests)
OWN_BAD_VALUES = [
    ("burgers", "nu=-0.1"), ("heat", "kappa=0"), ("kovasznay", "reynolds=0"), ("wave", "c=-1"),
    ("poisson-lshape", "reference_grid=160"), ("diffusion-inverse", "kappa_start=-1"),
    ("diffusion-inverse", "observations=0"), ("fokker-planck-ou", "t_final=-1"), ("fokker-planck-ou", "dim=0"),
    ("fokker-planck-ou", "theta=[1.0,2.0,3.0]"), ("cnf", "dataset=bogus"), ("cnf", "t1=0"),
    ("cnf", "jacobian_fraction=0"), ("fokker-planck", "weak_weights=bogus"), ("fokker-planck", "density=bogus"),
    ("fokker-planck", "times=[0.0,0.5,0.3]"), ("fokker-planck", "held_out_times=[3.0]"),
    ("fokker-planck", "test_widths=[]"), ("fokker-planck", "test_coordinates=3"),
    ("fokker-planck", "initial_spread=0"), ("fokker-planck", "simulation_dt=-0.01"),
]


@pytest.mark.parametrize("problem,bad", OWN_BAD_VALUES)
def test_every_shipped_problem_refuses_a_bad_value_of_its_own_keys_before_the_run(tmp_path, problem, bad):
    """Named in the message, raised by the problem's ``check`` before the runs root exists (a usage error: exit 2,
    one line), not by ``main`` inside a fresh run directory."""
    with pytest.raises(ValueError, match=f"config key '{bad.split('=')[0]}'"):
        run_problem(problem, overrides=[bad], root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_every_shipped_problem_has_a_check_and_its_defaults_pass_it():
    for name, path in known_problems().items():
        module = find_problem(name)
        assert callable(getattr(module, "check", None)), f"problems/{path.name} defines no check(config)"
        module.check(module.Config())


@pytest.mark.parametrize("problem,bad,what", [
    ("fokker-planck", "n_per_time=100000000", "the SDE data"), ("fokker-planck", "test_bank=100000000", "the SDE data"),
    ("cnf", "n_samples=1000000000", "cnf with n_samples"), ("poisson-lshape", "reference_grid=100001",
                                                             "the finite-difference reference")])
def test_a_problem_request_too_big_for_memory_is_refused_before_the_run(tmp_path, monkeypatch, problem, bad, what):
    """Each needs ≥ 100 GiB by its own lower bound: refused against a 4 GB limit, nothing written."""
    monkeypatch.setenv("HODPHYS_MAX_MEMORY", "4GB")
    with pytest.raises(MemoryLimitError, match=what):
        run_problem(problem, overrides=[bad], root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
