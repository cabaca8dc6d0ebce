"""The built-in PINN problems load, train a few steps and write their outputs; outputs per dimension;
a problem file may import a module beside it."""
import json

import meshio
import numpy as np
import pytest
import torch
from matplotlib.image import imread

from hodphys.app.cli import main
from hodphys.app.problem_loader import load_problem_file, run_problem
from hodphys.io.runs import Run
from hodphys.pinn import Dirichlet, PinnConfig, Problem
from hodphys.pinn.geometry import Ball, Box, Disk, Interval

TINY = ["n_interior=32", "n_boundary=16", "widths=[8]", "adam_steps=3", "optimizer_steps=2", "lbfgs_chunk=1",
        "grid_size=11", "eval_points=50", "threads=1"]
BUILT_IN = {"burgers": ["snapshots.png", "fields.png"], "poisson-lshape": ["fields.png"],
            "kovasznay": ["fields.png"], "heat": ["snapshots.png"], "diffusion-inverse": ["snapshots.png"],
            "wave": ["snapshots.png"]}


def test_every_built_in_pinn_problem_is_listed(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(f"{name} " in out for name in BUILT_IN)


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n in ("heat", "poisson-lshape") else pytest.mark.slow)
                                  for n in BUILT_IN])  # the others build bigger references or networks: slow
def test_built_in_problems_run_and_write_their_outputs(name, tmp_path):
    run, metrics = run_problem(name, overrides=TINY, root=tmp_path)
    assert metrics["steps"] == 5 and np.isfinite(metrics["rel_l2_mean"])
    written = {p.name for p in (run.dir / "plots").iterdir()}
    assert {"loss.png", *BUILT_IN[name]} <= written
    saved = json.loads((run.dir / "metrics.json").read_text())
    assert saved["rel_l2_mean"] == metrics["rel_l2_mean"]
    if name == "diffusion-inverse":
        assert "coefficient_kappa" in saved and saved["kappa_rel_error"] > 0


def _picture(path):
    image = imread(path)
    assert image.std() > 0.05  # not a blank canvas
    return image


def _problem(geometry, **kw):
    config = PinnConfig(dtype="float64", widths=[4], grid_size=21)
    exact = lambda x: x.sum(-1, keepdim=True)  # noqa: E731
    return Problem(config, geometry, pde=lambda f: f["u"], needs=["u"], exact=exact,
                   conditions=[Dirichlet(exact)], **kw)


def test_outputs_for_every_dimension(tmp_path):
    run = Run.create("out", PinnConfig(), root=tmp_path)
    run.append_metrics(step=1, loss=1.0)
    one = _problem(Interval(0, 2))
    names = [p.name for p in one.write_outputs(one.build_model(), run)]
    assert names == ["loss.png", "solution.png"]
    _picture(run.dir / "plots" / "solution.png")
    hole = _problem(Box([0, 0], [1, 1]) - Disk([0.5, 0.5], 0.3))
    names = [p.name for p in hole.write_outputs(hole.build_model(), run)]
    assert names == ["loss.png", "fields.png", "fields.vtu"]
    mesh = meshio.read(run.dir / "fields.vtu")
    inside = mesh.point_data["inside"] > 0
    centre = np.linalg.norm(mesh.points[:, :2] - 0.5, axis=1) < 0.29
    assert not inside[centre].any() and np.isnan(mesh.point_data["u"][centre]).all()
    assert np.isfinite(mesh.point_data["u_error"][inside]).all()
    _picture(run.dir / "plots" / "fields.png")
    ball = _problem(Ball([0, 0, 0], 1.0))
    (path,) = [p for p in ball.write_outputs(ball.build_model(), run) if p.suffix == ".vtu"]
    cloud = meshio.read(path)
    assert (np.linalg.norm(cloud.points, axis=1) <= 1 + 1e-9).all() and len(cloud.points) > 1000
    assert np.allclose(cloud.point_data["u_exact"], cloud.points.sum(1))
    run.close()


def test_a_problem_file_imports_a_module_beside_it(tmp_path):
    (tmp_path / "helper_for_my_problem.py").write_text("VALUE = 41\n")
    (tmp_path / "mine.py").write_text(
        "from dataclasses import dataclass\nimport helper_for_my_problem\nNAME = 'mine'\n"
        "@dataclass\nclass Config:\n    x: int = helper_for_my_problem.VALUE + 1\n"
        "def main(config, run):\n    return {'x': config.x}\n")
    assert load_problem_file(tmp_path / "mine.py").Config().x == 42
    assert str(tmp_path) not in __import__("sys").path


def test_normalize_outputs_needs_a_dirichlet_condition():
    config = PinnConfig(normalize_outputs=True)
    problem = Problem(config, Interval(0, 1), pde=lambda f: f["u"], needs=["u"], conditions=[])
    with pytest.raises(ValueError, match="'normalize_outputs': needs a Dirichlet condition"):
        problem.build_model()
    with pytest.raises(ValueError, match="config key 'sampling': expected one of"):
        PinnConfig(sampling="grid")
    torch.manual_seed(0)
