"""Mass-orthonormal reduced bases: POD/PCA of displacement snapshots and the full basis.

Index letters: T snapshots, n free degrees of freedom, p basis size (prefix size).

A basis U (n, p) is M-orthonormal, UᵀMU = I, so that the M-norm of a displacement in the
subspace is the Euclidean norm of its coordinates, z = Uᵀ M (u − u₀), and the reduced mass
matrix of any decoder u = u₀ + U g(q) is Gᵀ G (G = ∂g/∂q).

PCA by the method of snapshots (Sirovich 1987): with X = snapshots − u₀ (T, n), the mass-weighted
correlation C = X M Xᵀ (T, T) = V Λ Vᵀ gives U = Xᵀ V Λ^{-1/2}, the p leading M-orthonormal modes
(the ones minimising Σ_t ‖x_t − U Uᵀ M x_t‖²_M). The offset u₀ defaults to zero (the rest
state), so the undeformed beam is exactly representable (q = 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp


@dataclass(frozen=True)
class MassBasis:
    """offset u₀ (n,), basis U (n, p) with UᵀMU = I, mass_basis M U (n, p), and the singular values
    σ (p,) of the snapshots (σ_k² = the M-energy mode k captures)."""

    offset: np.ndarray
    basis: np.ndarray
    mass_basis: np.ndarray
    singular_values: np.ndarray

    @property
    def size(self) -> int:
        return self.basis.shape[1]

    def coordinates(self, u: np.ndarray) -> np.ndarray:
        """z = Uᵀ M (u − u₀); u (…, n) → (…, p)."""
        return (u - self.offset) @ self.mass_basis

    def displacement(self, z: np.ndarray) -> np.ndarray:
        """u = u₀ + U z; z (…, p) → (…, n)."""
        return self.offset + z @ self.basis.T


def check_snapshots(snapshots: np.ndarray, n_free: int, what: str = "snapshots") -> np.ndarray:
    """The snapshots as a float64 (T, n_free) array; ValueError if the shape or values are wrong."""
    snapshots = np.asarray(snapshots, dtype=np.float64)
    if snapshots.ndim != 2 or snapshots.shape[1] != n_free:
        raise ValueError(f"{what}: expected displacement snapshots of shape (T, {n_free}) (one free-dof "
                         f"vector per row), got shape {snapshots.shape}")
    bad = np.flatnonzero(~np.isfinite(snapshots).all(axis=1))
    if bad.size:
        raise ValueError(f"{what}: snapshots {bad[:10].tolist()} contain NaN or inf; expected finite "
                         f"displacements (did the full-order run fail?)")
    return snapshots


def mass_pca(snapshots: np.ndarray, mass: sp.spmatrix, n_modes: int,
             offset: np.ndarray | None = None) -> MassBasis:
    """The n_modes leading M-orthonormal PCA modes of snapshots (T, n) about offset (zero default)."""
    n = mass.shape[0]
    snapshots = check_snapshots(snapshots, n, "mass_pca")
    offset = np.zeros(n) if offset is None else np.asarray(offset, dtype=np.float64)
    centred = snapshots - offset
    correlation = centred @ (mass @ centred.T)                        # X M Xᵀ, (T, T)
    values, vectors = scipy.linalg.eigh(0.5 * (correlation + correlation.T))
    values, vectors = values[::-1], vectors[:, ::-1]
    significant = int(np.count_nonzero(values > values[0] * 1e-24)) if values[0] > 0 else 0
    if not 1 <= n_modes <= significant:
        raise ValueError(f"mass_pca: asked for n_modes={n_modes}, but the {snapshots.shape[0]} "
                         f"snapshots span only {significant} independent directions; expected "
                         f"1 ≤ n_modes ≤ {significant}")
    singular = np.sqrt(values[:n_modes])
    basis = centred.T @ (vectors[:, :n_modes] / singular)
    basis = orthonormalize(basis, mass)
    return MassBasis(offset, basis, np.asarray(mass @ basis), singular)


def orthonormalize(basis: np.ndarray, mass: sp.spmatrix) -> np.ndarray:
    """Re-orthonormalise U in the M inner product (one Cholesky pass removes round-off drift)."""
    gram = basis.T @ (mass @ basis)
    factor = np.linalg.cholesky(0.5 * (gram + gram.T))
    return scipy.linalg.solve_triangular(factor, basis.T, lower=True).T


def full_mass_basis(mass: sp.spmatrix) -> MassBasis:
    """A complete M-orthonormal basis U = L⁻ᵀ (M = L Lᵀ), so u = U z spans every displacement.

    Dense: meant for small meshes (checking that a full-basis reduction is the full-order model).
    """
    dense = mass.toarray()
    factor = np.linalg.cholesky(dense)
    basis = scipy.linalg.solve_triangular(factor, np.eye(dense.shape[0]), lower=True).T
    n = dense.shape[0]
    return MassBasis(np.zeros(n), basis, dense @ basis, np.ones(n))
