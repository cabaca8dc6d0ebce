"""Full-order FEM cantilever: released from rest under gravity, tapped sideways at the tip.

    hodphys run beam-fom
    hodphys run beam-fom --set integrator=newmark --set n_steps=400
    hodphys run beam-fom --set mesh=beam_fine.vtu --set n_steps=50

Writes into the run directory: trajectory.h5 (HDF5 snapshots, see hodphys.io.snapshots),
fields/beam.pvd + VTU frames (ParaView), tip_energy.png (tip displacement, energy and Newton
iterations against time), beam.png (the beam at its largest deflection; needs pyvista and
off-screen OpenGL, skipped otherwise), metrics.json.
"""
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from hodphys.fem import (
    LoadHistory,
    SimulationError,
    make_integrator,
    modal_analysis,
    simulate,
    solve_static,
)
from hodphys.fem.validity import validity_warnings
from hodphys.fem.beam_setup import (
    BeamConfig,
    build_beam,
    check_beam,
    check_counts,
    nodal_trajectory,
    snapshot_layout,
    total_energies,
)
from hodphys.io import (
    SnapshotWriter,
    TrajectoryRecord,
    plot_time_series,
    render_deformed,
    rendering_unavailable,
    write_vtu_series,
)
from hodphys.io.resources import MESH_DIR

NAME = "beam-fom"
RESUMABLE = False  # a run restarts from t = 0 (see hodphys.app.problem_loader.run_problem)
DEVICES = ("cpu",)
DEVICES_WHY = "its FEM solver factorises SciPy sparse matrices"
DESCRIPTION = "Full-order FEM cantilever (linear tets, hyperelastic, implicit) released under gravity"


@dataclass
class Config(BeamConfig):
    tip_force: list[float] = field(default_factory=lambda: [0.0, 40.0, 0.0])  # N, peak of the tap
    pulse_duration: float = 0.1     # s, half-sine tap at the start; 0 switches it off
    vtu_every: int = 4              # write every k-th step as a VTU frame
    render: bool = True             # PNG of the beam (skipped with a log line where impossible)


def check_values(config: Config) -> None:
    check_counts(config, pulse_duration=0.0, vtu_every=1)
    if len(config.tip_force) != 3:
        raise ValueError(f"config key 'tip_force': expected 3 components [x, y, z] in N, got {config.tip_force}")


def check(config: Config) -> None:
    """Refuse a bad config (values, mesh, material) before the run directory is made."""
    check_values(config)
    with threadpool_limits(limits=config.blas_threads):
        check_beam(config, MESH_DIR)


def main(config: Config, run) -> dict[str, float]:
    with threadpool_limits(limits=config.blas_threads):
        return simulate_beam(config, run)


def simulate_beam(config: Config, run) -> dict[str, float]:
    check_values(config)
    beam = build_beam(config, MESH_DIR)
    load = LoadHistory(steady=beam.gravity(config.gravity),
                       pulse=beam.tip_force(np.asarray(config.tip_force, dtype=float)),
                       pulse_duration=config.pulse_duration)
    integrator = make_integrator(config.integrator, beam.body, load)
    first_frequency = float(modal_analysis(beam.body, n_modes=1).frequencies[0])
    run.log.info("beam: %d nodes, %d tets, %d free dofs; first frequency %.4g Hz (period %.4g s)",
                 beam.mesh.n_points, beam.mesh.n_cells, beam.body.n_free, first_frequency,
                 1 / first_frequency)
    parameters = {"gravity": config.gravity, "pulse_duration": config.pulse_duration,
                  **{f"tip_force_{axis}": value for axis, value in zip("xyz", config.tip_force)}}
    snapshot_path = run.dir / "trajectory.h5"

    def save(trajectory) -> Path:
        with SnapshotWriter(snapshot_path, **snapshot_layout(config, beam)) as writer:
            record = TrajectoryRecord(load_parameters=parameters, **nodal_trajectory(beam, trajectory))
            writer.add("000", record)
        return snapshot_path

    started = time.perf_counter()
    try:
        trajectory = simulate(integrator, integrator.initial_state(), config.dt, config.n_steps,
                              config.max_halvings, save_partial=save,
                              progress=lambda steps: run.progress(steps, total=config.n_steps,
                                                                  desc=NAME))
    except SimulationError as failure:
        run.log.error("%s", failure)
        raise
    seconds = time.perf_counter() - started
    save(trajectory)
    run.log.info("wrote %s", snapshot_path)
    return write_outputs(config, run, beam, integrator, trajectory, seconds) | {
        "first_frequency_hz": first_frequency}


def write_outputs(config: Config, run, beam, integrator, trajectory, seconds: float) -> dict:
    """Fields, plot, render and metrics of a finished trajectory."""
    arrays = trajectory.arrays()
    tip = beam.tip_displacement(arrays["displacements"])                    # (t, 3)
    energy = total_energies(integrator, trajectory)
    write_fields(config, run, beam, arrays)
    plot_time_series(run.dir / "tip_energy.png", arrays["times"], {
        "tip displacement [m]": {f"u_{axis}": tip[:, k] for k, axis in enumerate("xyz")},
        "energy E = T + Π − fᵀu [J]": {"E": energy},
        "Newton iterations": {"per step": np.concatenate([[np.nan], arrays["newton_iterations"]])}},
        title=f"{NAME}: {config.integrator}, dt = {config.dt} s, {beam.body.n_free} dofs")
    largest = int(np.argmax(np.linalg.norm(tip, axis=1)))
    if config.render:
        reason = rendering_unavailable()
        if reason is None:
            render_deformed(run.dir / "beam.png", beam.mesh.points, beam.mesh.cells,
                            beam.body.field(arrays["displacements"][largest]),
                            title=f"{NAME}  t = {arrays['times'][largest]:.3f} s  (largest tip "
                                  f"deflection)")
        else:
            run.log.warning("no render: %s", reason)
    flags = validity_warnings(beam.body, arrays["times"], arrays["displacements"])
    for flag in flags:
        run.log.warning("beyond the model's validity: %s", flag)
    return metrics(config, beam, arrays, tip, energy) | {
        "simulation_seconds": seconds, "seconds_per_step": seconds / config.n_steps,
        "within_validity": not flags, "validity_warnings": "; ".join(flags)}


def write_fields(config: Config, run, beam, arrays: dict) -> None:
    """Every vtu_every-th frame as VTU (displacement vector, speed) plus the PVD index."""
    frames = np.arange(0, arrays["times"].size, max(config.vtu_every, 1))
    nodal = np.stack([beam.body.field(u) for u in arrays["displacements"][frames]])
    speed = np.stack([np.linalg.norm(beam.body.field(v), axis=1)
                      for v in arrays["velocities"][frames]])
    pvd = write_vtu_series(run.dir / "fields", "beam", beam.mesh.points, beam.mesh.cells,
                           arrays["times"][frames], {"displacement": nodal, "speed": speed})
    run.log.info("wrote %s (%d frames)", pvd, frames.size)


def metrics(config: Config, beam, arrays: dict, tip: np.ndarray, energy: np.ndarray) -> dict:
    """Tip motion, Newton effort, and the change of the oscillation energy E − E_eq after the
    tap (E_eq: the energy of the static sag under gravity; −1 means the motion died out)."""
    weight = beam.gravity(config.gravity)
    static = solve_static(beam.body, weight, load_steps=2).displacement
    equilibrium_energy = beam.body.strain_energy(static) - float(weight @ static)
    after_tap = energy[arrays["times"] >= config.pulse_duration - config.dt / 2]
    iterations = arrays["newton_iterations"]
    energy_change = {} if after_tap.size < 2 else {
        "oscillation_energy_change_after_tap": float((after_tap[-1] - after_tap[0])
                                                     / (after_tap[0] - equilibrium_energy))}
    return energy_change | {
        "max_tip_displacement_m": float(np.linalg.norm(tip, axis=1).max()),
        "min_tip_z_m": float(tip[:, 2].min()),
        "final_tip_z_m": float(tip[-1, 2]),
        "static_tip_z_m": float(beam.tip_displacement(static)[2]),
        "newton_iterations_mean": float(iterations.mean()),
        "newton_iterations_max": int(iterations.max()),
        "halved_steps": int(np.count_nonzero(arrays["substeps"] > 1)),
        "free_dofs": beam.body.n_free,
    }
