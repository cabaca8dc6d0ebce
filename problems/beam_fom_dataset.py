"""Training set for the reduced-order beam: a family of loads on the full-order cantilever, all
trajectories in one HDF5 file.

    hodphys run beam-fom-dataset
    hodphys run beam-fom-dataset --set n_trajectories=32 --set n_steps=300

Trajectory 000 is the plain release under gravity; each further one adds a half-sine tip tap of
random direction in the y–z plane, random peak force in [0, max_tip_force] and random duration in
[min_pulse, max_pulse] (seeded). Every trajectory's load parameters are stored as attributes of
its HDF5 group (see hodphys.io.snapshots for the layout). Writes dataset.h5 and metrics.json.
"""
import time
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from hodphys.fem import LoadHistory, SimulationError, make_integrator, simulate
from hodphys.fem.beam_setup import BeamConfig, build_beam, check_beam, nodal_trajectory, snapshot_layout
from hodphys.fem.validity import validity_warnings
from hodphys.io import SnapshotWriter, TrajectoryRecord
from hodphys.io.resources import MESH_DIR

NAME = "beam-fom-dataset"
RESUMABLE = False  # a run restarts (see hodphys.app.problem_loader.run_problem)
DEVICES = ("cpu",)
DEVICES_WHY = "its FEM solver factorises SciPy sparse matrices"
DESCRIPTION = "ROM training set: full-order cantilever under a family of tip taps, one HDF5 file"


@dataclass
class Config(BeamConfig):
    n_steps: int = 100
    n_trajectories: int = 8
    max_tip_force: float = 60.0      # N
    min_pulse: float = 0.05          # s
    max_pulse: float = 0.2           # s
    seed: int = 0


def load_family(config: Config) -> list[dict[str, float]]:
    """Load parameters of every trajectory: gravity, tap force (y, z) and duration."""
    rng = np.random.default_rng(config.seed)
    family = [{"gravity": config.gravity, "tip_force_y": 0.0, "tip_force_z": 0.0,
               "pulse_duration": 0.0}]
    for _ in range(config.n_trajectories - 1):
        angle = rng.uniform(0.0, 2 * np.pi)
        force = rng.uniform(0.0, config.max_tip_force)
        family.append({"gravity": config.gravity, "tip_force_y": force * np.cos(angle),
                       "tip_force_z": force * np.sin(angle),
                       "pulse_duration": rng.uniform(config.min_pulse, config.max_pulse)})
    return family


def check_values(config: Config) -> None:
    if config.n_trajectories < 1:
        raise ValueError(f"{NAME}: expected n_trajectories ≥ 1, got {config.n_trajectories}")


def check(config: Config) -> None:
    """Refuse a bad config (values, mesh, material) before the run directory is made."""
    check_values(config)
    with threadpool_limits(limits=config.blas_threads):
        check_beam(config, MESH_DIR)


def main(config: Config, run) -> dict[str, float]:
    check_values(config)
    with threadpool_limits(limits=config.blas_threads):
        beam = build_beam(config, MESH_DIR)
        started = time.perf_counter()
        path = run.dir / "dataset.h5"
        with SnapshotWriter(path, **snapshot_layout(config, beam)) as writer:
            results = [simulate_one(config, run, beam, writer, index, parameters)
                       for index, parameters in enumerate(run.progress(load_family(config),
                                                                       desc=NAME))]
    run.log.info("wrote %s", path)
    iterations = np.concatenate([result[0] for result in results])
    return {"n_trajectories": config.n_trajectories,
            "n_snapshots": config.n_trajectories * (config.n_steps + 1),
            "max_tip_displacement_m": max(result[1] for result in results),
            "newton_iterations_mean": float(iterations.mean()),
            "newton_iterations_max": int(iterations.max()),
            "seconds": time.perf_counter() - started, "free_dofs": beam.body.n_free}


def simulate_one(config: Config, run, beam, writer, index: int,
                 parameters: dict[str, float]) -> tuple[np.ndarray, float]:
    """Simulate and store one member of the family; returns (Newton iterations per step, largest
    tip displacement)."""
    tap = beam.tip_force([0.0, parameters["tip_force_y"], parameters["tip_force_z"]])
    load = LoadHistory(beam.gravity(config.gravity), tap, parameters["pulse_duration"])
    integrator = make_integrator(config.integrator, beam.body, load)
    try:
        trajectory = simulate(integrator, integrator.initial_state(), config.dt, config.n_steps,
                              config.max_halvings)
    except SimulationError as failure:
        run.log.error("trajectory %03d %s: %s (the %d before it are in %s)", index, parameters,
                      failure, index, writer.path)
        raise
    record = TrajectoryRecord(load_parameters=parameters, **nodal_trajectory(beam, trajectory))
    writer.add(f"{index:03d}", record)
    run.log.info("trajectory %03d: %s", index, ", ".join(f"{k}={v:.4g}" for k, v in parameters.items()))
    for flag in validity_warnings(beam.body, np.array(trajectory.times), np.array(trajectory.displacements)):
        run.log.warning("trajectory %03d beyond the model's validity: %s", index, flag)
    tip = beam.tip_displacement(np.array(trajectory.displacements))
    return np.array(trajectory.newton_iterations), float(np.linalg.norm(tip, axis=1).max())
