"""Direct solvers for the symmetric sparse systems of Newton's method, (H + τ·diag|H|) x = b.

* ``banded-cholesky`` (default): the rows are reordered to the smaller of the natural and the
  reverse Cuthill–McKee bandwidth, the band is copied into LAPACK band storage through a map
  computed once per sparsity pattern, and factored by scipy.linalg.cholesky_banded (LAPACK pbtrf,
  cost n·b² for bandwidth b). Slender bodies such as beams have small b, which makes this several
  times faster than a general sparse LU; Cholesky also *detects* a matrix that is not positive
  definite (LinAlgError), which is the signal for Newton's safeguard.
* ``superlu``: scipy's sparse LU (SuperLU) with a symmetric ordering and diagonal pivots, which
  also tells positive definite matrices from others (signs of U's diagonal).

Index letters: n unknowns, b half-bandwidth.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import reverse_cuthill_mckee


class LinearSolver(Protocol):
    name: str

    def solve(self, matrix: sp.csr_matrix, rhs: np.ndarray, shift: float = 0.0) -> np.ndarray:
        """x with (A + shift·diag|A|) x = rhs for a symmetric A (n × n), rhs (n,); raises
        numpy.linalg.LinAlgError if the shifted matrix is not positive definite."""
        ...


def _shifted_diagonal(matrix: sp.csr_matrix, shift: float) -> np.ndarray:
    return shift * np.abs(matrix.diagonal())


class BandedCholesky:
    """Cholesky in band storage for SPD matrices that share one CSR sparsity pattern."""

    name = "banded-cholesky"

    def __init__(self) -> None:
        self._pattern: tuple[np.ndarray, np.ndarray] | None = None

    def _prepare(self, matrix: sp.csr_matrix) -> None:
        """Choose the ordering and map CSR entries of the lower triangle into band storage."""
        pattern = (matrix.indptr, matrix.indices)
        if self._pattern is not None and all(np.array_equal(a, b) for a, b in
                                             zip(pattern, self._pattern)):
            return
        coo = matrix.tocoo()
        natural = np.arange(matrix.shape[0])
        orderings = [natural, reverse_cuthill_mckee(matrix.tocsr(), symmetric_mode=True)]
        position = [np.argsort(order) for order in orderings]    # new index of each old index
        widths = [np.abs(p[coo.row] - p[coo.col]).max(initial=0) for p in position]
        best = int(np.argmin(widths))
        self.order, self.bandwidth = orderings[best], int(widths[best])
        rows, cols = position[best][coo.row], position[best][coo.col]
        # CSR data order equals COO order for a canonical CSR matrix
        self._lower = np.flatnonzero(rows >= cols)
        self._band_index = (rows - cols)[self._lower] * matrix.shape[0] + cols[self._lower]
        self._pattern = tuple(np.copy(a) for a in pattern)

    def solve(self, matrix: sp.csr_matrix, rhs: np.ndarray, shift: float = 0.0) -> np.ndarray:
        if not matrix.has_canonical_format:
            matrix = matrix.copy()
            matrix.sum_duplicates()
        self._prepare(matrix)
        n = matrix.shape[0]
        band = np.zeros((self.bandwidth + 1) * n)
        band[self._band_index] = matrix.data[self._lower]     # canonical CSR: no duplicates
        band = band.reshape(self.bandwidth + 1, n)
        band[0] += _shifted_diagonal(matrix, shift)[self.order]
        factor = sla.cholesky_banded(band, lower=True, check_finite=False)
        solution = sla.cho_solve_banded((factor, True), rhs[self.order], check_finite=False)
        out = np.empty_like(solution)
        out[self.order] = solution
        return out


class SuperLU:
    """scipy's sparse LU with the minimum-degree ordering on Aᵀ + A, in symmetric mode.

    With diagonal pivoting only (diag_pivot_thresh = 0) and one permutation P on rows and columns,
    P A Pᵀ = L U with U = D Lᵀ, so by Sylvester's law A is positive definite iff every U_ii > 0;
    like Cholesky, it then raises LinAlgError for a matrix that is not.
    """

    name = "superlu"

    def solve(self, matrix: sp.csr_matrix, rhs: np.ndarray, shift: float = 0.0) -> np.ndarray:
        if shift:
            matrix = matrix + sp.diags(_shifted_diagonal(matrix, shift))
        try:
            lu = spla.splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                           options={"SymmetricMode": True})
        except RuntimeError as error:       # SuperLU reports an exactly singular factor this way
            raise np.linalg.LinAlgError(f"SuperLU: {error}") from error
        if not np.array_equal(lu.perm_r, lu.perm_c) or np.any(lu.U.diagonal() <= 0):
            raise np.linalg.LinAlgError("SuperLU: the matrix is not positive definite")
        return lu.solve(rhs)


LINEAR_SOLVERS: dict[str, type] = {cls.name: cls for cls in (BandedCholesky, SuperLU)}


def make_linear_solver(name: str) -> LinearSolver:
    """A fresh solver called ``name`` (a key of LINEAR_SOLVERS)."""
    if name not in LINEAR_SOLVERS:
        raise ValueError(f"make_linear_solver: unknown linear solver {name!r}; expected one of "
                         f"{sorted(LINEAR_SOLVERS)}")
    return LINEAR_SOLVERS[name]()
