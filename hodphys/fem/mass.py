"""Mass matrices of linear tets, consistent and lumped, on the free dofs.

Index letters: e elements, a/b nodes of an element, i/k coordinates; element matrices are
(12, 12, e) with rows (a, i) → 3a + i.

    consistent:  M_(ai)(bk) = ρ V_e (1 + δ_ab) / 20 · δ_ik   (exact ∫ ρ N_a N_b dV for P1),
    lumped:      M_(ai)(ai) = ρ V_e / 4                        (row sums of the consistent one).

Both are stored in the assembler's one CSR pattern, shared with the stiffness matrix.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from hodphys.fem.assembly import Assembler

_CONSISTENT_PATTERN = np.kron((np.ones((4, 4)) + np.eye(4)) / 20.0, np.eye(3))   # (12, 12)


def consistent_mass(assembler: Assembler, volumes: np.ndarray, density: float) -> sp.csr_matrix:
    """Consistent mass matrix; volumes shape (e,); returns CSR of shape (n_free, n_free)."""
    return assembler.matrix(_CONSISTENT_PATTERN[:, :, None] * (density * volumes))


def lumped_mass(assembler: Assembler, volumes: np.ndarray, density: float) -> sp.csr_matrix:
    """Diagonal (row-sum) lumped mass matrix; returns CSR of shape (n_free, n_free).

    It is stored in the assembler's full pattern (off-diagonal entries explicit zeros), so that it
    adds to a stiffness matrix by adding data arrays.
    """
    return assembler.matrix(np.eye(12)[:, :, None] * (density * volumes / 4.0))
