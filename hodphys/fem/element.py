"""Linear tetrahedron (P1) kinematics, vectorised over elements.

Index letters: e elements, a/b nodes or shape functions (4 per tet), i/k spatial and J/L
reference coordinates. Element arrays keep e as their last axis, e.g. F[i, J, e]: every
formula below is then a handful of vector operations over all elements at once.

Shape functions N_0 = 1 − ξ − η − ζ, N_1 = ξ, N_2 = η, N_3 = ζ have constant gradients, so one
quadrature point (the centroid, weight V_e) integrates every energy density exactly per element:

    ∂N_a/∂X = ∂N_a/∂ξ · (∂X/∂ξ)⁻¹,      V_e = det(∂X/∂ξ) / 6,
    F_iJ = δ_iJ + Σ_a u_ai ∂N_a/∂X_J,
    f_ai = V_e Σ_J P_iJ ∂N_a/∂X_J                       (gradient of V_e ψ),
    K_(ai)(bk) = V_e Σ_JL ∂N_a/∂X_J A_iJkL ∂N_b/∂X_L     (Hessian of V_e ψ).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hodphys.fem.matrix3 import determinant_and_inverse
from hodphys.fem.mesh import TetMesh

# ∂N_a/∂ξ_J on the reference tet; shape (a, J) = (4, 3).
REFERENCE_SHAPE_GRADIENTS = np.array([[-1.0, -1.0, -1.0],
                                      [1.0, 0.0, 0.0],
                                      [0.0, 1.0, 0.0],
                                      [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class TetGeometry:
    """Reference-configuration geometry of every tet.

    shape_gradients : ndarray, shape (a, J, e) = (4, 3, e) — ∂N_a/∂X_J.
    volumes : ndarray, shape (e,) — V_e > 0.
    nodes : ndarray, shape (a, e) = (4, e) — node ids (the mesh's cells, transposed).
    """

    shape_gradients: np.ndarray
    volumes: np.ndarray
    nodes: np.ndarray

    @classmethod
    def from_mesh(cls, mesh: TetMesh) -> TetGeometry:
        corners = mesh.points[mesh.cells.T].transpose(2, 0, 1)                   # (i, a, e)
        jacobian = np.einsum("iae,aJ->iJe", corners, REFERENCE_SHAPE_GRADIENTS)  # ∂X_i/∂ξ_J
        det, inverse = determinant_and_inverse(jacobian)                          # (ξ_J, X_i, e)
        gradients = np.einsum("aK,Kje->aje", REFERENCE_SHAPE_GRADIENTS, inverse)
        return cls(shape_gradients=np.ascontiguousarray(gradients), volumes=det / 6.0,
                   nodes=np.ascontiguousarray(mesh.cells.T))

    @cached_property
    def weighted_gradients(self) -> np.ndarray:
        """V_e ∂N_a/∂X_J; shape (4, 3, e)."""
        return self.volumes * self.shape_gradients

    def deformation_gradient(self, displacement: np.ndarray) -> np.ndarray:
        """F = I + Σ_a u_a ⊗ ∂N_a/∂X per element.

        displacement : ndarray, shape (n_points, 3) — nodal displacements u.
        returns : ndarray, shape (i, J, e) = (3, 3, e).
        """
        element_displacement = displacement.T[:, self.nodes]                      # (i, a, e)
        gradient = (element_displacement[:, :, None, :] * self.shape_gradients).sum(axis=1)
        gradient[0, 0] += 1.0
        gradient[1, 1] += 1.0
        gradient[2, 2] += 1.0
        return gradient

    def nodal_forces(self, first_piola: np.ndarray) -> np.ndarray:
        """Element force vectors f_ai = V_e Σ_J P_iJ ∂N_a/∂X_J.

        first_piola : ndarray, shape (3, 3, e) — P = ∂ψ/∂F.
        returns : ndarray, shape (a, i, e) = (4, 3, e).
        """
        return (first_piola * self.weighted_gradients[:, None]).sum(axis=2)

    def element_stiffness(self, elasticity: np.ndarray) -> np.ndarray:
        """Element tangent matrices K_(ai)(bk) = V_e Σ_JL ∂N_a/∂X_J A_iJkL ∂N_b/∂X_L.

        elasticity : ndarray, shape (3, 3, 3, 3, e) — A_iJkL = ∂²ψ/∂F_iJ ∂F_kL.
        returns : ndarray, shape (12, 12, e); rows and columns ordered (a, i) → 3a + i.
        """
        # contract J first, then L (two passes over (e,) vectors; one 4-operand pass is slower)
        by_j = np.einsum("aJe,iJkLe->aikLe", self.weighted_gradients, elasticity)
        return np.einsum("aikLe,bLe->aibke", by_j, self.shape_gradients).reshape(12, 12, -1)
