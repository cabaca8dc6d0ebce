"""Sparse assembly by scattering element arrays into a fixed CSR pattern.

Index letters: e elements, a nodes of an element (4), i coordinates (3); an element matrix row or
column (a, i) is number 3a + i, a global degree of freedom of node n and coordinate i is 3n + i.
Element arrays carry the element index last: vectors (4, 3, e) or (12, e), matrices (12, 12, e).

The pattern (which free-free entries can be non-zero) is built once from the connectivity; after
that, assembling a matrix is a single weighted ``np.bincount`` of the element values into the CSR
data array — no sorting, no duplicate summation, no Python loop over elements. Rows and columns of
constrained degrees of freedom are left out, so what comes back is the free-free block K_ff.
Every matrix one Assembler returns has the same (indptr, indices), so two of them add by adding
their ``data`` arrays.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class Assembler:
    """Scatter (12, e) element vectors and (12, 12, e) element matrices into global arrays.

    cells : ndarray, shape (e, 4) — node ids per tet.
    free_dofs : ndarray, shape (n_free,) — sorted global dof ids that stay unknown.
    n_points : int — number of nodes (3·n_points global dofs).
    """

    def __init__(self, cells: np.ndarray, free_dofs: np.ndarray, n_points: int) -> None:
        self.n_dofs = 3 * n_points
        self.free_dofs = free_dofs
        self.n_free = free_dofs.size
        element_dofs = (3 * cells.T[:, None, :] + np.arange(3)[:, None]).reshape(12, -1)  # (12, e)
        free_number = np.full(self.n_dofs, -1)
        free_number[free_dofs] = np.arange(self.n_free)
        element_free = free_number[element_dofs]                                # −1 = fixed
        # entries that touch a fixed dof go to one extra bin (number n_free or nnz), dropped after
        # the bincount: cheaper than gathering the kept entries first
        self._vector_index = np.where(element_free >= 0, element_free, self.n_free).ravel()
        n_cells = cells.shape[0]
        rows = np.broadcast_to(element_free[:, None, :], (12, 12, n_cells)).ravel()
        cols = np.broadcast_to(element_free[None, :, :], (12, 12, n_cells)).ravel()
        kept = (rows >= 0) & (cols >= 0)
        keys = rows[kept].astype(np.int64) * self.n_free + cols[kept]
        unique_keys, kept_index = np.unique(keys, return_inverse=True)
        self._indices = (unique_keys % self.n_free).astype(np.int32)
        row_counts = np.bincount(unique_keys // self.n_free, minlength=self.n_free)
        self._indptr = np.concatenate([[0], np.cumsum(row_counts)]).astype(np.int32)
        self._matrix_index = np.full(rows.size, self.nnz)
        self._matrix_index[kept] = kept_index

    @property
    def nnz(self) -> int:
        """Stored entries of the free-free CSR pattern."""
        return self._indices.size

    def vector(self, element_vectors: np.ndarray) -> np.ndarray:
        """Σ_e of element vectors, restricted to the free dofs.

        element_vectors : ndarray, shape (4, 3, e) or (12, e).
        returns : ndarray, shape (n_free,).
        """
        return np.bincount(self._vector_index, weights=element_vectors.reshape(-1),
                           minlength=self.n_free + 1)[:-1]

    def matrix(self, element_matrices: np.ndarray) -> sp.csr_matrix:
        """Σ_e of element matrices as the free-free CSR matrix.

        element_matrices : ndarray, shape (12, 12, e).
        returns : scipy.sparse.csr_matrix, shape (n_free, n_free).
        """
        data = np.bincount(self._matrix_index, weights=element_matrices.reshape(-1),
                           minlength=self.nnz + 1)[:-1]
        return sp.csr_matrix((data, self._indices, self._indptr), shape=(self.n_free, self.n_free))

    def expand(self, free_values: np.ndarray) -> np.ndarray:
        """Put free-dof values into a full (n_points, 3) nodal array with zeros at fixed dofs."""
        full = np.zeros(self.n_dofs)
        full[self.free_dofs] = free_values
        return full.reshape(-1, 3)
