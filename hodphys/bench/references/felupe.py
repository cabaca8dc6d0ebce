"""The same discrete problems set up in felupe, an independent FEM code (tests and benchmarks only).

felupe is an optional dependency (extras ``test`` and ``bench``); importing this module without it raises
ImportError, which tests turn into a skip. Its ``NeoHookeCompressible`` has exactly the energy of
``hodphys.fem.NeoHookean``, and ``RegionTetra`` integrates linear tets with one point, so on the
same mesh, clamp and nodal forces both codes solve the same algebraic problem.

Index letters: a nodes, i coordinates.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import felupe
import numpy as np
import scipy.sparse.linalg as spla

from hodphys.fem.material import Material, NeoHookean
from hodphys.fem.mesh import TetMesh


@dataclass
class FelupeModel:
    """felupe's field, solid body, clamp and dof partition for one of our meshes."""

    field: felupe.FieldContainer
    solid: felupe.SolidBody
    boundaries: dict
    active_dofs: np.ndarray
    fixed_dofs: np.ndarray


def felupe_model(mesh: TetMesh, material: Material, density: float,
                 clamped_nodes: np.ndarray) -> FelupeModel:
    """The body of ``ElasticBody(mesh, material, density, Dirichlet.clamp(mesh, clamped_nodes))``."""
    if not isinstance(material, NeoHookean):
        raise ValueError(f"felupe_model: only NeoHookean has a felupe twin "
                         f"(NeoHookeCompressible), got {type(material).__name__}")
    region = felupe.RegionTetra(felupe.Mesh(mesh.points, mesh.cells, "tetra"))
    field = felupe.FieldContainer([felupe.Field(region, dim=3)])
    mask = np.zeros(mesh.n_points, dtype=bool)
    mask[clamped_nodes] = True
    boundaries = {"clamped": felupe.Boundary(field[0], mask=mask)}
    umat = felupe.NeoHookeCompressible(mu=material.mu, lmbda=material.lmbda)
    solid = felupe.SolidBody(umat, field, density=density)
    fixed, active = felupe.dof.partition(field, boundaries)
    return FelupeModel(field, solid, boundaries, active, fixed)


def felupe_static_displacement(model: FelupeModel, nodal_forces: np.ndarray,
                               load_steps: int = 5, tolerance: float = 1e-12) -> np.ndarray:
    """felupe's equilibrium under dead nodal forces (a, 3), load-stepped; returns (a, 3)."""
    loaded = np.flatnonzero(np.abs(nodal_forces).sum(axis=1) > 0)
    load = felupe.PointLoad(model.field, loaded)
    factors = np.arange(1, load_steps + 1)[:, None, None] / load_steps
    step = felupe.Step(items=[model.solid, load], ramp={load: factors * nodal_forces[loaded]},
                       boundaries=model.boundaries)
    felupe.Job(steps=[step]).evaluate(tol=tolerance, verbose=0)
    return model.field[0].values.copy()


def felupe_angular_frequencies(model: FelupeModel, n_modes: int = 1) -> np.ndarray:
    """Lowest ω [rad/s] of K₀φ = ω²Mφ from felupe's stiffness at u = 0 (the model's field is
    reset to zero) and its consistent mass matrix.

    felupe integrates the mass with the region's quadrature, and one point (exact for the P1
    stiffness) under-integrates ∫ρ N_a N_b; the mass is therefore assembled on a twin region
    with the degree-2 tet rule, which is exact.
    """
    model.field[0].values[:] = 0.0
    stiffness = model.solid.assemble.matrix(model.field)
    exact = felupe.RegionTetra(model.field.region.mesh,
                               quadrature=felupe.TetrahedronQuadrature(order=2))
    mass_field = felupe.FieldContainer([felupe.Field(exact, dim=3)])
    mass = felupe.SolidBody(model.solid.umat, mass_field, density=model.solid.density).assemble.mass()
    active = model.active_dofs
    eigenvalues = spla.eigsh(stiffness[active][:, active].tocsc(), k=n_modes,
                             M=mass[active][:, active].tocsc(), sigma=0.0, which="LM",
                             return_eigenvectors=False)
    return np.sqrt(np.sort(eigenvalues))


def felupe_newton_parts(model: FelupeModel) -> tuple[Callable[[], tuple],
                                                     Callable[[tuple], np.ndarray]]:
    """felupe's two halves of one Newton iteration, for timing: ``assemble()`` (internal force and
    tangent matrix, as felupe.newtonraphson does) and ``solve(system)`` (its partitioned sparse
    solve with scipy's spsolve), which returns the Newton step du of shape (a, 3)."""

    def assemble() -> tuple:
        force = model.solid.assemble.vector(model.field)
        matrix = model.solid.assemble.matrix(model.field)
        return felupe.solve.partition(model.field, matrix, model.active_dofs, model.fixed_dofs,
                                      force)

    def solve(system: tuple) -> np.ndarray:
        return felupe.solve.solve(*system, solver=spla.spsolve)

    return assemble, solve
