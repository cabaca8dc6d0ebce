"""The beam-rom problem end to end on a small mesh (seconds): files, metrics, resume, bad input."""
import json

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from hodphys.fem import box_tet_mesh, write_mesh
from hodphys.io import read_pvd, read_snapshots, rendering_unavailable
from hodphys.app.problem_loader import run_problem

SMALL = ["n_trajectories=3", "dataset_steps=15", "n_steps=15", "prefix_size=8", "latent_dim=3",
         "widths=[16, 16]", "adam_steps=60", "optimizer_steps=10", "cubature_max_elements=30",
         "cubature_poses=20", "vtu_every=5"]


@pytest.fixture(autouse=True)
def _single_blas_thread():
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def small_mesh(tmp_path_factory):
    path = tmp_path_factory.mktemp("mesh") / "beam_small.vtu"
    write_mesh(box_tet_mesh((1.0, 0.1, 0.1), (6, 2, 2)), path)
    return path


@pytest.fixture(scope="module")
def finished(small_mesh, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return run_problem("beam-rom", overrides=[f"mesh={small_mesh}", *SMALL], root=root)


def test_beam_rom_writes_metrics_plots_fields_and_trajectories(finished):
    run, metrics = finished
    for name in ("tip.png", "error.png", "dataset.h5", "decoder.pt", "pca_decoder.pt", "cubature.npz"):
        assert (run.dir / name).stat().st_size > 1000
    written = json.loads((run.dir / "metrics.json").read_text())
    assert set(written) == set(metrics)
    assert written["neural_tip_rms_error_m"] == pytest.approx(metrics["neural_tip_rms_error_m"])
    reduced = read_snapshots(run.dir / "reduced_trajectories.h5")
    assert {"full", "pca", "pca_cubature", "neural", "neural_cubature"} <= set(reduced.trajectories)
    assert reduced.trajectories["neural"].displacements.shape == (16, 63, 3)
    assert [t for t, _ in read_pvd(run.dir / "fields" / "neural_cubature.pvd")] == pytest.approx([0, 0.05, 0.1, 0.15])
    assert 0 < metrics["cubature_elements"] <= 30
    if rendering_unavailable() is None:     # the side-by-side render is part of a run
        assert (run.dir / "beam_rom.png").stat().st_size > 10_000
    for model in ("pca", "neural", "neural_cubature"):
        assert metrics[f"{model}_seconds_per_step"] > 0 and metrics[f"{model}_speedup"] > 0
        assert metrics[f"{model}_speedup_mean"] == pytest.approx(
            metrics["full_seconds_per_step_mean"] / metrics[f"{model}_seconds_per_step_mean"])
        assert 0 <= metrics[f"{model}_tip_rms_error_m"] <= metrics[f"{model}_tip_max_error_m"]
        assert len(metrics[f"{model}_relative_displacement_error_per_frame"]) == 4
    # the compiled decoder (default) steps as the eager one does; its one-time cost is reported
    assert metrics["compile"] is True and metrics["compile_seconds"] > 0
    assert metrics["neural_cubature_eager_tip_rms_error_m"] == pytest.approx(
        metrics["neural_cubature_tip_rms_error_m"], rel=1e-8)
    # the reduced models follow the full one (a crude check: this is a tiny training set)
    assert metrics["pca_tip_rms_error_relative_to_peak"] < 0.5


def test_resume_reuses_the_finished_stages(finished):
    run, metrics = finished
    resumed, again = run_problem("beam-rom", overrides=["render=false", "compile=false"], resume=run.dir)
    log = (run.dir / "run.log").read_text()
    assert "reusing" in log and resumed.dir == run.dir
    assert again["compile"] is False and "compile_seconds" not in again
    assert again["neural_tip_rms_error_m"] == pytest.approx(metrics["neural_tip_rms_error_m"], rel=1e-10)


def test_resume_refuses_changes_to_finished_stages(finished):
    run, _ = finished
    with pytest.raises(ValueError, match="cannot change latent_dim"):
        run_problem("beam-rom", overrides=["latent_dim=2"], resume=run.dir)


def test_dataset_of_another_mesh_is_refused(finished, tmp_path):
    run, _ = finished
    with pytest.raises(ValueError, match="its mesh .* is not the configured mesh"):
        run_problem("beam-rom", overrides=[f"dataset={run.dir / 'dataset.h5'}", "n_steps=2", "render=false"],
                    root=tmp_path)


def test_failing_reduced_run_saves_its_trajectory_so_far(finished, monkeypatch):
    from hodphys.fem import NewtonFailure
    from hodphys.rom import ReducedIntegrator

    step = ReducedIntegrator.step

    def failing_after_a_while(self, state, dt):
        if state.time > 0.045:
            raise NewtonFailure("synthetic failure")
        return step(self, state, dt)

    monkeypatch.setattr(ReducedIntegrator, "step", failing_after_a_while)
    run, _ = finished
    with pytest.warns(RuntimeWarning, match="synthetic failure"), \
            pytest.raises(RuntimeError, match=r"after 1 halvings .*saved in .*pca_partial.npz"):
        run_problem("beam-rom", overrides=["render=false", "max_halvings=1"], resume=run.dir)
    assert np.load(run.dir / "pca_partial.npz")["times"] == pytest.approx([0, 0.01, 0.02, 0.03, 0.04, 0.05])


@pytest.mark.parametrize("override, message", [
    ("rom_integrator=rk4", "config key 'rom_integrator': expected one of"),
    ("latent_dim=30", "expected 1 ≤ latent_dim < prefix_size"),
])
def test_bad_config_is_named(override, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run_problem("beam-rom", overrides=[override], root=tmp_path)
