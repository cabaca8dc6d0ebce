"""Linear tetrahedron (P1) kinematics, vectorised over elements.

Index letters: e elements, a nodes/shape functions (4 per tet), i/J coordinates (spatial i,
reference J).

Shape functions N_0 = 1 − ξ − η − ζ, N_1 = ξ, N_2 = η, N_3 = ζ have constant gradients, so one
quadrature point (the centroid, weight V_e) integrates every energy density exactly per element:

    ∂N_a/∂X = ∂N_a/∂ξ · (∂X/∂ξ)⁻¹,      V_e = det(∂X/∂ξ) / 6,
    F_iJ = δ_iJ + Σ_a u_ai ∂N_a/∂X_J.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hodphys.fem.mesh import TetMesh

# ∂N_a/∂ξ_J on the reference tet; shape (a, J) = (4, 3).
REFERENCE_SHAPE_GRADIENTS = np.array([[-1.0, -1.0, -1.0],
                                      [1.0, 0.0, 0.0],
                                      [0.0, 1.0, 0.0],
                                      [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class TetGeometry:
    """Reference-configuration geometry of every tet.

    shape_gradients : ndarray, shape (e, a, J) = (e, 4, 3) — ∂N_a/∂X_J.
    volumes : ndarray, shape (e,) — V_e > 0.
    cells : ndarray, shape (e, 4) — node ids (as in the mesh).
    """

    shape_gradients: np.ndarray
    volumes: np.ndarray
    cells: np.ndarray

    @classmethod
    def from_mesh(cls, mesh: TetMesh) -> TetGeometry:
        corners = mesh.points[mesh.cells]                          # (e, a, i)
        jacobian = np.einsum("eai,aJ->eiJ", corners, REFERENCE_SHAPE_GRADIENTS)  # ∂X_i/∂ξ_J
        gradients = REFERENCE_SHAPE_GRADIENTS @ np.linalg.inv(jacobian)          # (e, a, J)
        return cls(shape_gradients=gradients, volumes=np.linalg.det(jacobian) / 6.0,
                   cells=mesh.cells)

    def deformation_gradient(self, displacement: np.ndarray) -> np.ndarray:
        """F = I + Σ_a u_a ⊗ ∂N_a/∂X per element.

        displacement : ndarray, shape (n_points, 3) — nodal displacements u.
        returns : ndarray, shape (e, i, J) = (e, 3, 3).
        """
        element_displacement = displacement[self.cells]            # (e, a, i)
        return np.eye(3) + np.einsum("eai,eaJ->eiJ", element_displacement, self.shape_gradients)

    def nodal_forces(self, first_piola: np.ndarray) -> np.ndarray:
        """Element force vectors f_ai = V_e Σ_J P_iJ ∂N_a/∂X_J, the gradient of V_e ψ(F).

        first_piola : ndarray, shape (e, 3, 3) — P = ∂ψ/∂F.
        returns : ndarray, shape (e, a, i) = (e, 4, 3).
        """
        return self.volumes[:, None, None] * np.einsum("eiJ,eaJ->eai", first_piola,
                                                       self.shape_gradients)

    def element_stiffness(self, elasticity: np.ndarray) -> np.ndarray:
        """Element tangent matrices K_(ai)(bk) = V_e Σ_JL ∂N_a/∂X_J A_iJkL ∂N_b/∂X_L.

        elasticity : ndarray, shape (e, 3, 3, 3, 3) — A_iJkL = ∂²ψ/∂F_iJ ∂F_kL.
        returns : ndarray, shape (e, 12, 12), rows and columns ordered (a, i) → 3a + i.
        """
        n = elasticity.shape[0]
        grad = self.shape_gradients
        # contract J first: (e, a, J) @ (e, J, i·k·L) → (e, a, i, k, L)
        by_j = np.matmul(grad, elasticity.transpose(0, 2, 1, 3, 4).reshape(n, 3, 27))
        # then L: (e, a·i·k, L) @ (e, L, b) → (e, a, i, k, b)
        full = np.matmul(by_j.reshape(n, 36, 3), grad.transpose(0, 2, 1)).reshape(n, 4, 3, 3, 4)
        return (self.volumes[:, None, None] *
                full.transpose(0, 1, 2, 4, 3).reshape(n, 12, 12))
