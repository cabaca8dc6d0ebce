"""Modal analysis about the undeformed state: K₀ φ = ω² M φ.

Index letters: k modes, n_free free dofs. K₀ is the tangent stiffness at u = 0 (the small-strain
elasticity); the lowest modes come from scipy's ARPACK in shift-invert mode around σ = 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse.linalg as spla

from hodphys.fem.body import ElasticBody


@dataclass(frozen=True)
class Modes:
    """angular_frequencies : (k,) ascending ω [rad/s]; shapes : (k, n_free), M-orthonormal
    (φ_kᵀ M φ_l = δ_kl), sign fixed so that each shape's largest entry is positive."""

    angular_frequencies: np.ndarray
    shapes: np.ndarray

    @property
    def frequencies(self) -> np.ndarray:
        """f = ω / 2π [Hz]; shape (k,)."""
        return self.angular_frequencies / (2 * np.pi)

    @property
    def periods(self) -> np.ndarray:
        """T = 2π / ω [s]; shape (k,)."""
        return 2 * np.pi / self.angular_frequencies


def modal_analysis(body: ElasticBody, n_modes: int = 6) -> Modes:
    """The n_modes lowest vibration modes of the body about its reference configuration."""
    if not 1 <= n_modes < body.n_free:
        raise ValueError(f"modal_analysis: expected 1 ≤ n_modes < {body.n_free} (free dofs), "
                         f"got {n_modes}")
    stiffness = body.stiffness(np.zeros(body.n_free))
    # a fixed start vector makes ARPACK (and so the mode signs before fixing) reproducible
    start = np.ones(body.n_free)
    eigenvalues, vectors = spla.eigsh(stiffness.tocsc(), k=n_modes, M=body.mass.tocsc(),
                                      sigma=0.0, which="LM", v0=start)
    order = np.argsort(eigenvalues)
    eigenvalues, vectors = eigenvalues[order], vectors[:, order].T
    # eigsh returns M-orthonormal vectors; only the sign is left to fix
    signs = np.sign(vectors[np.arange(n_modes), np.abs(vectors).argmax(axis=1)])
    return Modes(np.sqrt(np.clip(eigenvalues, 0.0, None)), vectors * signs[:, None])
