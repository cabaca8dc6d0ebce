"""What the beam problems (``problems/beam_fom.py``, ``problems/beam_fom_dataset.py``) share:
the configuration of the cantilever and its integrator, building them, and the arrays a snapshot
file stores (the problems hand them to :class:`hodphys.io.SnapshotWriter`; fem itself writes no files).

Index letters: t time points, a nodes, n_free free dofs.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hodphys.errors import InputError

from hodphys.fem.cantilever import STANDARD_GRAVITY, Cantilever
from hodphys.fem.integrators import Integrator
from hodphys.fem.material import make_material
from hodphys.fem.mesh import read_mesh
from hodphys.fem.simulate import Trajectory


@dataclass
class BeamConfig:
    """The cantilever (1 × 0.1 × 0.1 m in the shipped meshes, clamped at x = 0) and its time
    integration. ``mesh`` is a file in the repository's meshes/ or a path."""

    mesh: str = "beam_coarse.vtu"
    material: str = "neo-hookean"
    young: float = 1e7                  # Pa
    poisson: float = 0.3
    density: float = 1000.0             # kg/m³
    gravity: float = STANDARD_GRAVITY   # m/s², along −z
    integrator: str = "implicit-euler"  # or "newmark"
    dt: float = 0.01                    # s
    n_steps: int = 200
    lumped_mass: bool = False
    linear_solver: str = "banded-cholesky"
    max_halvings: int = 4
    blas_threads: int = 1               # LAPACK threads; more only fight on a shared machine


def check_counts(config: object, **minimum: int) -> None:
    """InputError naming the first config key below its minimum (counts and non-negative knobs)."""
    for key, low in minimum.items():
        value = getattr(config, key)
        if not value >= low:
            raise InputError(f"config key {key!r}: expected a value ≥ {low}, got {value}")


def check_beam(config: BeamConfig, mesh_dir: Path) -> None:
    """Every check of a beam config, before a run starts: counts, a finite dt > 0, and the beam
    itself (the mesh readable with node ids in range and no floating part, the material valid)."""
    check_counts(config, n_steps=1, max_halvings=0, blas_threads=1)
    if not 0 < config.dt < math.inf:
        raise InputError(f"config key 'dt': expected a finite time step > 0 (s), got {config.dt}")
    build_beam(config, mesh_dir)


def build_beam(config: BeamConfig, mesh_dir: Path) -> Cantilever:
    """The cantilever the config describes; a relative ``mesh`` is looked up in mesh_dir first."""
    check_counts(config, max_halvings=0, blas_threads=1)
    path = Path(config.mesh)
    if not path.is_file() and (mesh_dir / path).is_file():
        path = mesh_dir / path
    if not path.is_file():
        raise FileNotFoundError(f"mesh {config.mesh!r}: no such file (looked in the working "
                                f"directory and in {mesh_dir})")
    material = make_material(config.material, config.young, config.poisson)
    try:
        return Cantilever.build(read_mesh(path), material, config.density,
                                lumped_mass=config.lumped_mass, linear_solver=config.linear_solver)
    except InputError as err:
        raise InputError(f"config key 'mesh' ({config.mesh!r}): {err}") from None


def snapshot_metadata(config: BeamConfig, beam: Cantilever) -> dict:
    """The run's settings plus mesh facts, for the HDF5 file's attributes."""
    return {**dataclasses.asdict(config), "n_points": beam.mesh.n_points,
            "n_cells": beam.mesh.n_cells, "n_free_dofs": beam.body.n_free,
            "clamped_nodes": beam.body.dirichlet.nodes.tolist(),
            "tip_nodes": beam.tip_nodes.tolist()}


def snapshot_layout(config: BeamConfig, beam: Cantilever) -> dict:
    """The mesh, free dofs and metadata of a snapshot file (keyword arguments of
    :class:`hodphys.io.SnapshotWriter`)."""
    mesh = beam.mesh
    return {"points": mesh.points, "cells": mesh.cells, "free_dofs": beam.body.assembler.free_dofs,
            "metadata": snapshot_metadata(config, beam)}


def nodal_trajectory(beam: Cantilever, trajectory: Trajectory) -> dict[str, np.ndarray]:
    """Free-dof trajectory (t, n_free) → nodal arrays (t, a, 3), with the times and Newton counts
    (keyword arguments of :class:`hodphys.io.TrajectoryRecord`, less ``load_parameters``)."""
    arrays = trajectory.arrays()
    nodal = {key: np.stack([beam.body.field(u) for u in arrays[key]])
             for key in ("displacements", "velocities")}
    return {"times": arrays["times"], "newton_iterations": arrays["newton_iterations"], **nodal}


def total_energies(integrator: Integrator, trajectory: Trajectory) -> np.ndarray:
    """E(t) = ½vᵀMv + Π(u) − f(t)ᵀu at every recorded time; shape (t,)."""
    arrays = trajectory.arrays()
    return np.array([integrator.total_energy(*state) for state in
                     zip(arrays["times"], arrays["displacements"], arrays["velocities"])])
