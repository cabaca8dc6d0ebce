"""Issue 16, items 8–9: bad FEM input is one line naming it (exit 2, nothing written); halved steps
and results beyond the model's validity are recorded; a simulation that gives up is one message."""
import json
import math

import meshio
import numpy as np
import pytest

from hodphys.app.cli import main
from hodphys.app.problem_loader import run_problem
from hodphys.fem import Cantilever, NeoHookean, NewtonFailure, make_material, simulate
from hodphys.fem.integrators import Integrator
from hodphys.fem.mesh import box_tet_mesh, read_mesh

FAST = ["n_steps=2", "render=false", "vtu_every=100"]


def _two_bodies(offset_x: float) -> tuple[np.ndarray, np.ndarray]:
    """A 1 m beam and a second one beside it, shifted along x (0: both touch the clamped face)."""
    a = box_tet_mesh((1.0, 0.1, 0.1), (10, 1, 1))
    points = np.vstack([a.points, a.points * [0.5, 1, 1] + [offset_x, 0.0, 0.3]])
    return points, np.vstack([a.cells, a.cells + a.n_points])


def _refused(capfd, tmp_path, *settings: str) -> str:
    status = main(["run", "beam-fom", "--runs", str(tmp_path / "runs"), *(f"--set={s}" for s in settings)])
    out, err = capfd.readouterr()
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and out == "", (out, err)
    assert not (tmp_path / "runs").exists()
    return lines[0]


def test_a_mesh_with_node_ids_out_of_range_is_one_line(capfd, tmp_path):
    mesh = box_tet_mesh((1.0, 0.1, 0.1), (4, 1, 1))
    cells = mesh.cells.copy()
    cells[3, 2] = mesh.n_points + 7
    meshio.write(tmp_path / "bad_ids.vtu", meshio.Mesh(mesh.points, [("tetra", cells)]))
    line = _refused(capfd, tmp_path, f"mesh={tmp_path / 'bad_ids.vtu'}")
    assert line.startswith("error: config key 'mesh' (") and \
        f"tets [3] refer to node ids outside [0, {mesh.n_points - 1}] (the file has {mesh.n_points} points)" in line


def test_a_floating_part_is_found_up_front(capfd, tmp_path):
    points, cells = _two_bodies(offset_x=0.25)
    meshio.write(tmp_path / "two.vtu", meshio.Mesh(points, [("tetra", cells)]))
    line = _refused(capfd, tmp_path, f"mesh={tmp_path / 'two.vtu'}")
    assert "1 part(s) of the mesh touch no clamped node (nodes [44, 45" in line
    assert "expected every connected part to hold a Dirichlet node" in line
    points, cells = _two_bodies(offset_x=0.0)  # both parts clamped: a valid (if odd) body
    meshio.write(tmp_path / "both.vtu", meshio.Mesh(points, [("tetra", cells)]))
    Cantilever.build(read_mesh(tmp_path / "both.vtu"), NeoHookean.from_young_poisson(1e7, 0.3), 1000.0)


def test_a_garbage_vtu_is_one_line_and_meshio_prints_nothing(capfd, tmp_path):
    garbage = b"<?xml version='1.0'?>\n<VTKFile type='UnstructuredGrid'><nope/></VTKFile>\n"
    (tmp_path / "garbage.vtu").write_bytes(garbage)
    line = _refused(capfd, tmp_path, f"mesh={tmp_path / 'garbage.vtu'}")
    assert "not a mesh meshio can read" in line and "Unknown main tag 'nope'." in line
    assert "Couldn't read file" not in line


@pytest.mark.parametrize("setting,message", [("young=inf", "config key 'young': expected a finite number"),
                                             ("dt=inf", "config key 'dt': expected a finite number"),
                                             ("dt=0", "config key 'dt': expected a finite time step > 0"),
                                             ("young=-1", "expected a finite young > 0")])
def test_infinite_or_bad_material_and_time_step_are_one_line(capfd, tmp_path, setting, message):
    assert message in _refused(capfd, tmp_path, setting)


def test_the_library_refuses_infinite_modulus_and_time_step(small_beam):
    with pytest.raises(ValueError, match=r"expected a finite young > 0 \(Pa\), got inf"):
        make_material("neo-hookean", math.inf, 0.3)
    from hodphys.fem import ImplicitEuler
    integrator = ImplicitEuler(small_beam.body, lambda t: small_beam.gravity())
    with pytest.raises(ValueError, match="expected a finite dt > 0, got dt=inf"):
        simulate(integrator, integrator.initial_state(), math.inf, 3)


def test_validity_flags_large_displacement_strain_and_inversion(small_beam):
    from hodphys.fem.validity import validity_warnings

    body, times = small_beam.body, np.array([0.0, 1.0])
    still = np.zeros((2, body.n_free))
    assert validity_warnings(body, times, still) == []
    points = body.field(np.zeros(body.n_free)) + body.mesh.points
    far = np.stack([np.zeros(body.n_free), body.restrict(np.tile([0.0, 0.0, -3.0], (body.mesh.n_points, 1)))])
    flags = validity_warnings(body, times, far)  # the free nodes moved, the clamped ones not: strained too
    assert len(flags) == 2 and flags[0] == "displacement 3 m exceeds 1 × the body's size (1 m), first at t = 1 s"
    mirrored = body.restrict(points * [1.0, -1.0, 1.0] - points)  # y ↦ −y (but the clamped nodes)
    (flag,) = validity_warnings(body, times, np.stack([np.zeros(body.n_free), mirrored]))
    inverted = int(flag.split()[0])
    assert inverted > body.mesh.n_cells // 2 and flag.startswith(f"{inverted} inverted elements, principal stretches")


def test_halved_steps_go_to_run_log_and_the_result_is_flagged(tmp_path, monkeypatch):
    step = Integrator.step

    def failing_once(self, state, dt):
        if 0.25 < state.time < 0.35 and dt > 0.2:
            raise NewtonFailure("synthetic failure")
        return step(self, state, dt)

    monkeypatch.setattr(Integrator, "step", failing_once)
    with pytest.warns(RuntimeWarning, match="synthetic failure"):
        run, metrics = run_problem("beam-fom", overrides=["young=2e4", "n_steps=3", "dt=0.3", "pulse_duration=0",
                                                          "render=false", "vtu_every=100"], root=tmp_path)
    log = (run.dir / "run.log").read_text()
    assert "StepHalvingWarning: implicit-euler: Newton failed at t = 0.3 with dt = 0.3 (synthetic failure)" in log
    assert metrics["halved_steps"] == 1 and metrics["within_validity"] is False
    saved = json.loads((run.dir / "metrics.json").read_text())
    assert saved["validity_warnings"].startswith("displacement 1.5")
    assert "beyond the model's validity: displacement 1.5" in log


def test_a_simulation_that_gives_up_is_one_message_with_the_trajectory(capfd, tmp_path, monkeypatch):
    def failing(self, state, dt):
        raise NewtonFailure("synthetic failure")

    monkeypatch.setattr(Integrator, "step", failing)
    status = main(["run", "beam-fom", "--runs", str(tmp_path), "--set=max_halvings=0", *(f"--set={s}" for s in FAST)])
    err = capfd.readouterr().err
    (run_dir,) = tmp_path.iterdir()
    assert status == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"error: simulate: step 1 from t = 0 failed even with dt = 0.01 after 0 halvings (synthetic failure); "
        f"the trajectory so far is saved in {run_dir / 'trajectory.h5'} (run {run_dir} failed; it cannot resume; "
        f"start it again with: hodphys run beam-fom)")
    assert json.loads((run_dir / "status.json").read_text())["status"] == "failed"
