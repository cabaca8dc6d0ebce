"""3 × 3 matrices batched over trailing axes: M[i, j, *E].

Explicit cofactor formulas: each entry is one vector operation over the batch, which beats
numpy.linalg's per-matrix loops by an order of magnitude for many tiny matrices. Results are
C-contiguous with the batch last, so that products of them stay vectorised over the batch
(numpy gives a strided view's layout to the result of arithmetic on it).

    adj M = Cᵀ (C the cofactor matrix),   det M = Σ_j M_0j (adj M)_j0,   M⁻¹ = adj M / det M.
"""
from __future__ import annotations

import numpy as np


def adjugate(matrix: np.ndarray) -> np.ndarray:
    """adj M with (adj M)_ji = (−1)^(i+j) · minor_ij; matrix and result of shape (3, 3, *E)."""
    m = matrix
    out = np.empty_like(m, order="C")
    for i in range(3):
        i1, i2 = (i + 1) % 3, (i + 2) % 3        # cyclic order gives the sign for free
        for j in range(3):
            j1, j2 = (j + 1) % 3, (j + 2) % 3
            out[j, i] = m[i1, j1] * m[i2, j2] - m[i1, j2] * m[i2, j1]
    return out


def determinant(matrix: np.ndarray) -> np.ndarray:
    """det M; matrix of shape (3, 3, *E), result of shape E."""
    m = matrix
    return (m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
            - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
            + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0]))


def determinant_and_inverse(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(det M of shape E, M⁻¹ of shape (3, 3, *E)); M⁻¹ is inf/nan where det M = 0."""
    adjugate_matrix = adjugate(matrix)
    det = (matrix[0] * adjugate_matrix[:, 0]).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return det, adjugate_matrix / det


def matmul(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """(L R)_ij = Σ_k L_ik R_kj for batches of shape (3, 3, *E)."""
    return np.einsum("ik...,kj...->ij...", left, right, order="C")


def transpose(matrix: np.ndarray) -> np.ndarray:
    """Mᵀ as a C-contiguous copy; shape (3, 3, *E)."""
    return np.ascontiguousarray(np.swapaxes(matrix, 0, 1))
