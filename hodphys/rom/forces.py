"""Reduced internal forces in prefix coordinates z (u = u₀ + U z), exact or by cubature.

Index letters: n free dofs, p prefix size, e elements, c cubature elements, T poses.

    F(z) = Uᵀ f_int(u₀ + U z) (p,),   K(z) = Uᵀ K(u₀ + U z) U (p, p),   Π(z) = Π(u₀ + U z).

``ProjectedForces`` assembles the full-order quantities (every element, cost ∝ n);
``ElementForces`` evaluates the same sums over a chosen set of elements with weights w_e,

    F(z) ≈ Σ_e w_e U_eᵀ f_e(u_e),   K(z) ≈ Σ_e w_e U_eᵀ K_e(u_e) U_e,   Π(z) ≈ Σ_e w_e V_e ψ(F_e),

where U_e (12, p) are the rows of U at element e's dofs (zero at clamped dofs): with a cubature
(see :mod:`hodphys.rom.cubature`) a step touches c ≪ e elements and never an n-sized array.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from hodphys.fem import ElasticBody
from hodphys.rom.basis import MassBasis


class ProjectedForces:
    """Galerkin projection of the full-order body forces onto the basis (touches every element)."""

    def __init__(self, body: ElasticBody, basis: MassBasis) -> None:
        check_basis(body, basis)
        self.body, self.basis = body, basis
        self.force_floor = force_floor(body, basis)

    def evaluate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(F (p,), K (p, p)) at z (p,)."""
        u = self.basis.displacement(z)
        U = self.basis.basis
        return U.T @ self.body.internal_force(u), U.T @ (self.body.stiffness(u) @ U)

    def force(self, z: np.ndarray) -> np.ndarray:
        return self.basis.basis.T @ self.body.internal_force(self.basis.displacement(z))

    def stiffness_product(self, z: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """K(z) D = Uᵀ K(u) (U D) (p, r) for directions D (p, r): no p × p product with the mesh."""
        U = self.basis.basis
        return U.T @ (self.body.stiffness(self.basis.displacement(z)) @ (U @ directions))

    def energy(self, z: np.ndarray) -> float:
        return self.body.strain_energy(self.basis.displacement(z))


def force_floor(body: ElasticBody, basis: MassBasis) -> float:
    """‖F‖ that round-off alone produces: ‖U‖₂ times the body's force round-off level."""
    return float(np.linalg.norm(basis.basis, 2)) * body.force_roundoff


def check_basis(body: ElasticBody, basis: MassBasis) -> None:
    if basis.basis.shape[0] != body.n_free:
        raise ValueError(f"reduced forces: the basis has {basis.basis.shape[0]} rows (decoder output "
                         f"size), the body has {body.n_free} free dofs; expected them equal (was the "
                         f"decoder fitted on another mesh?)")


class ElementForces:
    """Weighted sums over a subset of elements (ids (c,), weights (c,) ≥ 0) of the element forces,
    stiffnesses and energies, projected on the basis rows of each element."""

    def __init__(self, body: ElasticBody, basis: MassBasis, elements: np.ndarray,
                 weights: np.ndarray) -> None:
        check_basis(body, basis)
        elements = np.asarray(elements, dtype=np.int64)
        weights = np.asarray(weights, dtype=np.float64)
        if elements.shape != weights.shape or elements.ndim != 1:
            raise ValueError(f"ElementForces: expected element ids and weights of one shape (c,), got "
                             f"{elements.shape} and {weights.shape}")
        if elements.size and (elements.min() < 0 or elements.max() >= body.mesh.n_cells):
            raise ValueError(f"ElementForces: element ids must lie in [0, {body.mesh.n_cells}), got "
                             f"[{elements.min()}, {elements.max()}]")
        self.body, self.basis, self.elements, self.weights = body, basis, elements, weights
        self.force_floor = force_floor(body, basis)
        geometry = body.geometry
        c = elements.size
        # each chosen element gets its own four local nodes, so TetGeometry's kernels apply as-is
        self.geometry = dataclasses.replace(
            geometry, shape_gradients=np.ascontiguousarray(geometry.shape_gradients[:, :, elements]),
            volumes=geometry.volumes[elements], nodes=np.arange(4 * c).reshape(c, 4).T.copy())
        self.element_basis, self.element_offset = element_rows(body, basis, elements)
        # w_e U_e stacked over elements, (c·12, p): fixed, so built once
        self.weighted_basis = (self.element_basis * weights[:, None, None]).reshape(-1, basis.size)
        self._last: tuple[np.ndarray, np.ndarray] | None = None   # (z, F) of the last deformation
        self._gradients = np.ascontiguousarray(self.geometry.shape_gradients.transpose(2, 0, 1))    # (c, a, L)
        self._weighted_gradients = np.ascontiguousarray(self.geometry.weighted_gradients.transpose(2, 0, 1))

    @property
    def size(self) -> int:
        return self.elements.size

    def _deformation(self, z: np.ndarray) -> np.ndarray:
        """F per chosen element (3, 3, c) at z (p,); the last one is kept, since a Newton step
        asks for the force and then the stiffness at the same z."""
        if self._last is not None and np.array_equal(z, self._last[0]):
            return self._last[1]
        element_u = self.element_offset + self.element_basis @ z                 # (c, 12)
        deformation = self.geometry.deformation_gradient(element_u.reshape(-1, 3))
        self._last = (z.copy(), deformation)
        return deformation

    def contributions(self, z: np.ndarray) -> np.ndarray:
        """Unweighted per-element reduced forces U_eᵀ f_e (c, p) at z (p,)."""
        stress = self.body.material.stress(self._deformation(z))
        forces = self.geometry.nodal_forces(stress).reshape(12, -1)             # (12, c)
        return (forces.T[:, None, :] @ self.element_basis)[:, 0]

    def force(self, z: np.ndarray) -> np.ndarray:
        """F(z) (p,)."""
        stress = self.body.material.stress(self._deformation(z))
        return self.geometry.nodal_forces(stress).reshape(12, -1).T.reshape(-1) @ self.weighted_basis

    def evaluate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(F (p,), K (p, p)) at z (p,)."""
        elasticity = self.body.material.elasticity(self._deformation(z))
        stiffness = self.geometry.element_stiffness(elasticity).transpose(2, 0, 1)  # (c, 12, 12)
        reduced = self.weighted_basis.T @ (stiffness @ self.element_basis).reshape(-1, self.basis.size)
        return self.force(z), 0.5 * (reduced + reduced.T)

    def stiffness_product(self, z: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """K(z) D (p, r) for directions D (p, r), element by element without assembling K_e:
        δF_e = Σ_b (U_e D)_b ⊗ ∂N_b/∂X, δP_e = A_e : δF_e, then K D = Σ_e w_e U_eᵀ V_e δP_e ∂N/∂X
        (the linearised nodal forces along each column of D)."""
        c, r = self.size, directions.shape[1]
        nodal = (self.element_basis.reshape(-1, self.basis.size) @ directions).reshape(c, 4, 3 * r)
        variation = (np.swapaxes(nodal, 1, 2) @ self._gradients).reshape(c, 3, r, 3)        # δF (c, k, r, L)
        variation = variation.transpose(0, 1, 3, 2).reshape(c, 9, r)
        elasticity = self.body.material.elasticity(self._deformation(z)).reshape(9, 9, c).transpose(2, 0, 1)
        stress = (elasticity @ variation).reshape(c, 3, 3, r)                                   # δP (c, i, J, r)
        forces = self._weighted_gradients @ stress.transpose(0, 2, 1, 3).reshape(c, 3, 3 * r)   # (c, a, i·r)
        return self.weighted_basis.T @ forces.reshape(-1, r)

    def energy(self, z: np.ndarray) -> float:
        densities = self.body.material.energy(self._deformation(z))
        return float((self.weights * self.geometry.volumes) @ densities)


def element_rows(body: ElasticBody, basis: MassBasis,
                 elements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """U_e (c, 12, p) and u₀ at each element's dofs (c, 12), zero where a dof is clamped."""
    cells = body.mesh.cells[elements]                                            # (c, 4)
    global_dofs = (3 * cells[:, :, None] + np.arange(3)).reshape(-1, 12)         # (c, 12)
    free_number = np.full(body.mesh.n_dofs, -1)
    free_number[body.assembler.free_dofs] = np.arange(body.n_free)
    rows = free_number[global_dofs]
    padded_basis = np.vstack([basis.basis, np.zeros((1, basis.size))])
    padded_offset = np.append(basis.offset, 0.0)
    return padded_basis[rows], padded_offset[rows]
