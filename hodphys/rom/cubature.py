"""Optimised cubature for reduced forces (An, Kim & James 2008): a few elements with weights w ≥ 0.

Index letters: T training poses, p prefix size, e elements, c chosen elements.

Given training poses z_t (T, p), the reduced forces b_t = Uᵀ f_int(u₀ + U z_t) are fitted by
Σ_{e ∈ C} w_e U_eᵀ f_e(z_t), each pose's rows scaled by 1/‖b_t‖ (every pose counts alike). The
set C grows greedily: each round scores a random sample of candidate elements by the cosine of
their contribution column with the current residual, adds the best, and refits all weights by
non-negative least squares (scipy.optimize.nnls). It stops when the relative fit error is below
``tolerance`` or C has ``max_elements`` elements.

    cubature = fit_cubature(body, basis, training_poses, tolerance=1e-2)
    forces = cubature.forces()                       # ElementForces for the reduced model
    cubature.relative_errors(held_out_poses)         # (T',) ‖F_c − F‖/‖F‖ per pose
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize

from hodphys.fem import ElasticBody
from hodphys.rom.basis import MassBasis
from hodphys.rom.forces import ElementForces, ProjectedForces, check_basis


@dataclass(frozen=True)
class Cubature:
    """Chosen elements (c,), their weights (c,), the training fit error, and what it belongs to."""

    body: ElasticBody
    basis: MassBasis
    elements: np.ndarray
    weights: np.ndarray
    training_error: float

    @property
    def size(self) -> int:
        return self.elements.size

    def forces(self) -> ElementForces:
        return ElementForces(self.body, self.basis, self.elements, self.weights)

    def relative_errors(self, poses: np.ndarray) -> np.ndarray:
        """‖F_cubature(z) − F(z)‖ / ‖F(z)‖ for each pose z (T, p) with F(z) ≠ 0; shape (≤ T,)."""
        exact, approximate = ProjectedForces(self.body, self.basis), self.forces()
        errors = []
        for z in check_poses(poses, self.basis.size):
            reference = exact.force(z)
            if np.linalg.norm(reference) > 0:
                errors.append(np.linalg.norm(approximate.force(z) - reference) / np.linalg.norm(reference))
        return np.array(errors)


def check_poses(poses: np.ndarray, p: int) -> np.ndarray:
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 2 or poses.shape[1] != p or not np.all(np.isfinite(poses)):
        raise ValueError(f"cubature: expected finite poses of shape (T, {p}) (prefix coordinates), got "
                         f"shape {poses.shape}" + ("" if np.all(np.isfinite(poses)) else " with NaN/inf"))
    return poses


def contribution_columns(body: ElasticBody, basis: MassBasis, elements: np.ndarray,
                         poses: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Columns A[:, e] = (U_eᵀ f_e(z_t) / ‖b_t‖ stacked over t); shape (T·p, len(elements))."""
    subset = ElementForces(body, basis, elements, np.ones(elements.size))
    blocks = [subset.contributions(z) / scale for z, scale in zip(poses, scales)]   # (c, p) each
    return np.concatenate([block.T for block in blocks], axis=0)


def fit_cubature(body: ElasticBody, basis: MassBasis, poses: np.ndarray, tolerance: float = 1e-2,
                 max_elements: int = 200, candidates: int = 1000, seed: int = 0) -> Cubature:
    """Greedy element selection with NNLS weights fitted to the reduced forces at poses (T, p)."""
    check_basis(body, basis)
    poses = check_poses(poses, basis.size)
    if not 0 < tolerance < 1 or max_elements < 1 or candidates < 1:
        raise ValueError(f"fit_cubature: expected 0 < tolerance < 1, max_elements ≥ 1, candidates ≥ 1; "
                         f"got {tolerance}, {max_elements}, {candidates}")
    exact = ProjectedForces(body, basis)
    targets = np.stack([exact.force(z) for z in poses])                             # (T, p)
    scales = np.linalg.norm(targets, axis=1)
    keep = scales > 1e-12 * scales.max()
    poses, targets, scales = poses[keep], targets[keep], scales[keep]
    rhs = (targets / scales[:, None]).reshape(-1)
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    columns = np.zeros((rhs.size, 0))
    weights, error = np.zeros(0), 1.0
    residual = rhs.copy()
    n_cells = body.mesh.n_cells
    while error > tolerance and len(chosen) < min(max_elements, n_cells):
        pool = np.setdiff1d(np.arange(n_cells), chosen)
        pool = rng.choice(pool, size=min(candidates, pool.size), replace=False)
        pool_columns = contribution_columns(body, basis, pool, poses, scales)
        score = (pool_columns.T @ residual) / np.maximum(np.linalg.norm(pool_columns, axis=0), 1e-300)
        best = int(np.argmax(score))
        chosen.append(int(pool[best]))
        columns = np.hstack([columns, pool_columns[:, best:best + 1]])
        weights, _ = scipy.optimize.nnls(columns, rhs, maxiter=50 * columns.shape[1])
        residual = rhs - columns @ weights
        error = float(np.linalg.norm(residual) / np.linalg.norm(rhs))
    used = weights > 0
    return Cubature(body, basis, np.array(chosen)[used], weights[used], error)


def full_cubature(body: ElasticBody, basis: MassBasis) -> Cubature:
    """Every element at weight 1: the exact sum (a check of the cubature machinery)."""
    return Cubature(body, basis, np.arange(body.mesh.n_cells), np.ones(body.mesh.n_cells), 0.0)
