"""An elastic body: mesh + material + density + clamped nodes, with its energy, internal force,
tangent stiffness and mass on the free degrees of freedom.

Index letters: e elements, a nodes, i coordinates; u is the vector of free displacement dofs,
shape (n_free,), and the clamped dofs are zero.

    Π(u) = Σ_e V_e ψ(F_e(u)),   f_int(u) = ∂Π/∂u,   K(u) = ∂²Π/∂u∂u   (CSR, n_free × n_free).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from hodphys.errors import InputError
from hodphys.fem.assembly import Assembler
from hodphys.fem.boundary import Dirichlet
from hodphys.fem.connectivity import floating_parts
from hodphys.fem.element import TetGeometry
from hodphys.fem.linear_solvers import LinearSolver, make_linear_solver
from hodphys.fem.mass import consistent_mass, lumped_mass
from hodphys.fem.material import Material
from hodphys.fem.matrix3 import determinant
from hodphys.fem.mesh import TetMesh, format_ids


class ElasticBody:
    """A hyperelastic solid discretised with linear tets.

        body = ElasticBody(mesh, NeoHookean.from_young_poisson(1e7, 0.3), density=1000.0,
                           dirichlet=Dirichlet.clamp_plane(mesh, axis=0, value=0.0))
        body.internal_force(u), body.stiffness(u), body.mass
    """

    def __init__(self, mesh: TetMesh, material: Material, density: float,
                 dirichlet: Dirichlet, lumped_mass: bool = False,
                 linear_solver: str = "banded-cholesky") -> None:
        if not 0 < density < np.inf:
            raise InputError(f"ElasticBody: expected density > 0, got {density} (a finite number)")
        if dirichlet.n_points != mesh.n_points:
            raise ValueError(f"ElasticBody: the Dirichlet set is for a mesh of "
                             f"{dirichlet.n_points} points, but this mesh has {mesh.n_points}")
        if dirichlet.free_dofs.size == 0:
            raise ValueError("ElasticBody: the Dirichlet set fixes every degree of freedom; expected some free")
        floating = floating_parts(mesh.cells, mesh.n_points, dirichlet.nodes)
        if floating:
            raise InputError(f"ElasticBody: {len(floating)} part(s) of the mesh touch no clamped node (nodes "
                             f"{format_ids(floating[0])} form one) and would move as rigid bodies (a singular "
                             f"stiffness, zero frequencies); expected every connected part to hold a "
                             f"Dirichlet node: clamp each part or join it to the rest")
        self.mesh = mesh
        self.material = material
        self.density = density
        self.dirichlet = dirichlet
        self.lumped_mass = lumped_mass
        self.geometry = TetGeometry.from_mesh(mesh)
        self.assembler = Assembler(mesh.cells, dirichlet.free_dofs, mesh.n_points)
        # one solver per body: it caches the ordering of the body's one sparsity pattern
        self.linear_solver = make_linear_solver(linear_solver)

    @property
    def n_free(self) -> int:
        return self.assembler.n_free

    def field(self, u: np.ndarray) -> np.ndarray:
        """Nodal displacement array (a, 3) of the free dof vector u (n_free,)."""
        if u.shape != (self.n_free,):
            raise ValueError(f"ElasticBody: expected a free-dof vector of shape ({self.n_free},), "
                             f"got shape {u.shape}")
        return self.assembler.expand(u)

    def restrict(self, nodal: np.ndarray) -> np.ndarray:
        """Free-dof entries (n_free,) of a nodal array (a, 3), e.g. nodal forces."""
        return nodal.reshape(-1)[self.assembler.free_dofs]

    def deformation_gradient(self, u: np.ndarray) -> np.ndarray:
        """F per element; shape (3, 3, e)."""
        return self.geometry.deformation_gradient(self.field(u))

    def inverted_elements(self, u: np.ndarray) -> np.ndarray:
        """Ids of the elements that u turns inside out (det F ≤ 0); shape (k,)."""
        return np.flatnonzero(determinant(self.deformation_gradient(u)) <= 0)

    def strain_energy(self, u: np.ndarray) -> float:
        """Π(u) = Σ_e V_e ψ(F_e); +∞ if the material rejects some F (an inverted element)."""
        return float(self.geometry.volumes @ self.material.energy(self.deformation_gradient(u)))

    def internal_force(self, u: np.ndarray) -> np.ndarray:
        """f_int = ∂Π/∂u; shape (n_free,)."""
        stress = self.material.stress(self.deformation_gradient(u))
        return self.assembler.vector(self.geometry.nodal_forces(stress))

    def stiffness(self, u: np.ndarray) -> sp.csr_matrix:
        """Tangent stiffness K = ∂²Π/∂u∂u; CSR of shape (n_free, n_free)."""
        elasticity = self.material.elasticity(self.deformation_gradient(u))
        return self.assembler.matrix(self.geometry.element_stiffness(elasticity))

    @cached_property
    def force_roundoff(self) -> float:
        """‖f_int‖ that round-off alone can produce: 10 ε (2μ+λ) ‖Σ_e V_e Σ_J |∂N_a/∂X_J|‖.

        Newton stops at this level whatever its relative tolerance: no f64 iteration gets lower.
        """
        per_node = self.geometry.volumes * np.abs(self.geometry.shape_gradients).sum(axis=1)
        nodal = np.broadcast_to(per_node[:, None, :], (4, 3, per_node.shape[1]))
        scale = np.linalg.norm(self.assembler.vector(nodal))
        return 10 * np.finfo(np.float64).eps * self.material.modulus * float(scale)

    @cached_property
    def energy_roundoff(self) -> float:
        """|Π| error from round-off alone: 10 ε (2μ+λ) Σ_e V_e (line searches ignore less)."""
        return 10 * np.finfo(np.float64).eps * self.material.modulus * self.geometry.volumes.sum()

    @cached_property
    def mass(self) -> sp.csr_matrix:
        """Mass matrix (consistent, or lumped if asked); CSR of shape (n_free, n_free)."""
        build = lumped_mass if self.lumped_mass else consistent_mass
        return build(self.assembler, self.geometry.volumes, self.density)

    def kinetic_energy(self, v: np.ndarray) -> float:
        """T = ½ vᵀ M v for a free-dof velocity v (n_free,)."""
        return 0.5 * float(v @ (self.mass @ v))


@dataclass(frozen=True)
class BodyObjective:
    """Base of the energies Newton minimises over a body's free dofs (see newton.Objective):
    their round-off levels and linear solver are the body's."""

    body: ElasticBody

    @property
    def energy_floor(self) -> float:
        return self.body.energy_roundoff

    @property
    def force_floor(self) -> float:
        return self.body.force_roundoff

    @property
    def linear_solver(self) -> LinearSolver:
        return self.body.linear_solver
