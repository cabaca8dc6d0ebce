"""Static equilibrium under dead loads, with load stepping.

Equilibrium f_int(u) = λ f is the minimiser of the total potential Φ(u) = Π(u) − λ fᵀu; the load
factor λ goes 1/s, 2/s, …, 1 and each step starts Newton from the previous solution, so large
deflections stay inside Newton's basin.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from hodphys.checks import check_integers
from hodphys.fem.body import BodyObjective, ElasticBody
from hodphys.fem.newton import DEFAULT_OPTIONS, NewtonOptions, minimize


@dataclass(frozen=True)
class TotalPotential(BodyObjective):
    """Φ(u) = Π(u) − fᵀu over the free dofs; force f has shape (n_free,)."""

    force: np.ndarray

    def value(self, u: np.ndarray) -> float:
        return self.body.strain_energy(u) - float(self.force @ u)

    def gradient(self, u: np.ndarray) -> np.ndarray:
        return self.body.internal_force(u) - self.force

    def hessian(self, u: np.ndarray) -> sp.csr_matrix:
        return self.body.stiffness(u)


@dataclass(frozen=True)
class StaticResult:
    """Equilibria along the load path.

    load_factors : shape (s,); displacements : shape (s, n_free); iterations : shape (s,).
    """

    load_factors: np.ndarray
    displacements: np.ndarray
    iterations: np.ndarray

    @property
    def displacement(self) -> np.ndarray:
        """The equilibrium at the full load; shape (n_free,)."""
        return self.displacements[-1]


def solve_static(body: ElasticBody, force: np.ndarray, load_steps: int = 10,
                 options: NewtonOptions = DEFAULT_OPTIONS,
                 initial: np.ndarray | None = None) -> StaticResult:
    """Equilibrium u with f_int(u) = force, reached in load_steps equal increments of the load.

    force : ndarray, shape (n_free,) — dead external load on the free dofs.
    """
    if force.shape != (body.n_free,):
        raise ValueError(f"solve_static: expected force of shape ({body.n_free},), got "
                         f"{force.shape}")
    check_integers("solve_static", 1, load_steps=load_steps)
    for label, vector in (("force", force), ("initial", initial)):
        if vector is not None and not np.all(np.isfinite(vector)):
            raise ValueError(f"solve_static: {label} has non-finite entries (NaN or inf)")
    u = np.zeros(body.n_free) if initial is None else initial.copy()
    factors = np.arange(1, load_steps + 1) / load_steps
    displacements, iterations = [], []
    for factor in factors:
        result = minimize(TotalPotential(body, factor * force), u, options,
                          force_scale=float(np.linalg.norm(factor * force)))
        u = result.x
        displacements.append(u)
        iterations.append(result.iterations)
    return StaticResult(factors, np.array(displacements), np.array(iterations))
