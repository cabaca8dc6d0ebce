"""The beam-fom and beam-fom-dataset problems, run through hodphys's own runner."""
import json

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from hodphys.bench.references.felupe import felupe_model, felupe_static_displacement
from hodphys.fem import NewtonFailure, body_force, read_mesh
from hodphys.fem.beam_setup import build_beam
from hodphys.fem.integrators import Integrator
from hodphys.io import read_pvd, read_snapshots
from hodphys.app.problem_loader import find_problem, run_problem
from hodphys.io.resources import MESH_DIR


@pytest.fixture(autouse=True)
def _single_blas_thread():
    with threadpool_limits(limits=1):
        yield


def test_beam_fom_writes_snapshots_fields_plot_and_metrics(tmp_path):
    # the default load and the default dt, over the tap and the first swing
    run, metrics = run_problem("beam-fom", overrides=["n_steps=40", "vtu_every=10", "render=false"],
                               root=tmp_path)
    snapshots = read_snapshots(run.dir / "trajectory.h5")
    (record,) = snapshots.trajectories.values()
    assert record.displacements.shape == (41, 496, 3)
    np.testing.assert_allclose(record.times, np.linspace(0.0, 0.4, 41))
    assert record.load_parameters["tip_force_y"] == 40.0
    assert snapshots.metadata["integrator"] == "implicit-euler"
    mesh = read_mesh(run.dir / "fields" / "beam_0000.vtu")
    assert mesh.n_points == 496
    assert [time for time, _ in read_pvd(run.dir / "fields" / "beam.pvd")] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert (run.dir / "tip_energy.png").stat().st_size > 10_000
    assert json.loads((run.dir / "metrics.json").read_text()) == pytest.approx(metrics)
    # the beam sags under gravity and sways from the tap; Newton stays quick at the default dt
    assert metrics["min_tip_z_m"] < -0.1 and metrics["max_tip_displacement_m"] > 0.15
    assert metrics["newton_iterations_max"] <= 5 and metrics["halved_steps"] == 0
    assert metrics["free_dofs"] == 1440


def test_beam_fom_saves_the_trajectory_so_far_when_it_gives_up(tmp_path, monkeypatch):
    step = Integrator.step

    def failing_after_a_while(self, state, dt):
        if state.time > 0.045:
            raise NewtonFailure("synthetic failure")
        return step(self, state, dt)

    monkeypatch.setattr(Integrator, "step", failing_after_a_while)
    gives_up = r"failed even with dt = 0.005 after 1 halvings .*saved in .*trajectory.h5"
    with pytest.warns(RuntimeWarning, match="synthetic failure"), pytest.raises(RuntimeError, match=gives_up):
        run_problem("beam-fom", overrides=["n_steps=20", "max_halvings=1", "render=false"], root=tmp_path)
    (run_dir,) = tmp_path.iterdir()
    record = read_snapshots(run_dir / "trajectory.h5").trajectories["000"]
    np.testing.assert_allclose(record.times, [0.0, 0.01, 0.02, 0.03, 0.04, 0.05])


def test_beam_fom_dataset_writes_one_file_with_the_load_family(tmp_path):
    run, metrics = run_problem("beam-fom-dataset", overrides=["n_trajectories=3", "n_steps=8"],
                               root=tmp_path)
    snapshots = read_snapshots(run.dir / "dataset.h5")
    assert sorted(snapshots.trajectories) == ["000", "001", "002"]
    first, second = snapshots.trajectories["000"], snapshots.trajectories["001"]
    assert first.load_parameters["pulse_duration"] == 0.0 and second.load_parameters["pulse_duration"] > 0.0
    assert snapshots.free_displacements("002").shape == (9, 1440)
    assert metrics["n_snapshots"] == 27 and metrics["newton_iterations_max"] <= 5


def test_dataset_family_is_seeded_and_bad_sizes_are_refused(tmp_path):
    problem = find_problem("beam-fom-dataset")
    family = problem.load_family(problem.Config(n_trajectories=5, seed=3))
    assert family == problem.load_family(problem.Config(n_trajectories=5, seed=3))
    forces = [np.hypot(p["tip_force_y"], p["tip_force_z"]) for p in family[1:]]
    assert len(family) == 5 and max(forces) <= 60.0
    with pytest.raises(ValueError, match="expected n_trajectories ≥ 1, got 0"):
        run_problem("beam-fom-dataset", overrides=["n_trajectories=0"], root=tmp_path)


def test_missing_mesh_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="mesh 'nowhere.vtu': no such file"):
        run_problem("beam-fom", overrides=["mesh=nowhere.vtu"], root=tmp_path)


def test_a_run_shorter_than_the_tap_has_no_energy_change_metric(tmp_path):
    _, metrics = run_problem("beam-fom", overrides=["n_steps=5", "vtu_every=5", "render=false"],
                             root=tmp_path)
    assert "oscillation_energy_change_after_tap" not in metrics


def test_beam_fom_static_sag_is_felupes_and_as_stiff_as_beam_theory_allows(tmp_path):
    """The full-order beam's accuracy, on the shipped coarse mesh (30×3×3 divisions) in seconds.

    Exact for the discretisation: felupe (an independent FEM code) solves the same mesh, clamp,
    neo-Hookean law and weight; the two agree to Newton's tolerance (bound 1e-6).
    Physics: the sag is below Euler–Bernoulli's ρgAL⁴/(8EI) = 0.147 m, by the bending locking of
    linear tets that the tip-load test measures on this mesh (0.73 of δ_EB; here 0.68, ν = 0.3)."""
    _, metrics = run_problem("beam-fom", overrides=["n_steps=1", "vtu_every=1", "render=false"], root=tmp_path)
    problem = find_problem("beam-fom")
    config = problem.Config()
    beam = build_beam(config, MESH_DIR)
    weight = body_force(beam.mesh, config.density, np.array([0.0, 0.0, -config.gravity]))
    twin = felupe_model(beam.mesh, beam.body.material, config.density, beam.body.dirichlet.nodes)
    felupe_sag = felupe_static_displacement(twin, weight, load_steps=2, tolerance=1e-10)[beam.tip_nodes].mean(0)[2]
    assert metrics["static_tip_z_m"] == pytest.approx(felupe_sag, rel=1e-6)
    side = 0.1
    euler_bernoulli = config.density * config.gravity * side**2 / (8 * config.young * side**4 / 12)
    assert 0.6 < -metrics["static_tip_z_m"] / euler_bernoulli < 0.8
