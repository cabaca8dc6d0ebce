"""Is a computed motion within what the model describes? Flags, not errors: the run finishes and
says where its result stops being trustworthy.

A linear-tet hyperelastic model with one quadrature point describes moderate strains of a body
that stays in one piece. Flagged, at any recorded time: an inverted element (det F ≤ 0); a
principal stretch outside :data:`STRETCH_RANGE` (the element is crushed or drawn out beyond what
one linear tet resolves); a displacement larger than :data:`DISPLACEMENT_FACTOR` × the body's
largest extent (a clamped body cannot move that far without such strains).

Index letters: t recorded times, e elements, n_free free dofs.
"""
from __future__ import annotations

import numpy as np

from hodphys.fem.body import ElasticBody
from hodphys.fem.matrix3 import determinant

STRETCH_RANGE = (0.5, 2.0)
DISPLACEMENT_FACTOR = 1.0


def _stretches(F: np.ndarray) -> np.ndarray:
    """Principal stretches √eig(FᵀF) per element; F (3, 3, e) → (e, 3)."""
    C = np.einsum("kie,kje->eij", F, F)
    return np.sqrt(np.clip(np.linalg.eigvalsh(C), 0.0, None))


def validity_warnings(body: ElasticBody, times: np.ndarray, displacements: np.ndarray) -> list[str]:
    """Sentences saying where the motion leaves the model's validity; [] when it does not.

    times (t,), displacements (t, n_free).
    """
    extent = float(np.ptp(body.mesh.points, axis=0).max())
    warnings: list[str] = []
    largest = np.abs(displacements).max(axis=1) if displacements.size else np.zeros(0)
    if largest.size and largest.max() > DISPLACEMENT_FACTOR * extent:
        k = int(np.argmax(largest > DISPLACEMENT_FACTOR * extent))
        warnings.append(f"displacement {largest.max():.3g} m exceeds {DISPLACEMENT_FACTOR:g} × the body's "
                        f"size ({extent:.3g} m), first at t = {times[k]:.4g} s")
    low, high = STRETCH_RANGE
    for k, u in enumerate(displacements):
        F = body.deformation_gradient(u)
        inverted = np.count_nonzero(determinant(F) <= 0)
        stretch = _stretches(F)
        if inverted or stretch.min() < low or stretch.max() > high:
            what = f"{inverted} inverted elements, " if inverted else ""
            warnings.append(f"{what}principal stretches in [{stretch.min():.3g}, {stretch.max():.3g}] (valid range "
                            f"[{low:g}, {high:g}]), first at t = {times[k]:.4g} s")
            break
    return warnings
