"""Newton's method for minimising a smooth energy Φ(x), with a backtracking (Armijo) line search
and a safeguard that keeps every step a descent direction.

Each iteration solves H d = −g (H = ∇²Φ sparse, g = ∇Φ) with the objective's direct solver
(a banded Cholesky by default, see linear_solvers). If H is not positive definite (Cholesky fails),
singular, or d is no descent direction (gᵀd ≥ 0), it retries with H + τ·diag|H|, τ doubling
from 10⁻³ (Nocedal & Wright, Alg. 3.3), which tends to a scaled gradient step; then it halves
the step length until Φ(x + αd) ≤ Φ(x) + c α gᵀd.
Φ = +∞ (an inverted element) simply makes the line search step back. Once the predicted decrease
|gᵀd| is below the round-off of Φ itself, the energy can no longer rank steps, and the full
Newton step is taken (Newton is then in its quadratic regime).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from hodphys.fem.linear_solvers import LinearSolver

# Relative round-off of Φ on top of the objective's absolute energy_floor.
ENERGY_ROUNDOFF = 1e-13
# The safeguard's first shift τ (relative to diag|H|), its growth per retry, and how many retries:
# doubling (Nocedal & Wright, Alg. 3.3) keeps τ within 2× of the smallest that works.
FIRST_SHIFT = 1e-3
SHIFT_GROWTH = 2.0
SHIFT_TRIES = 40


class Objective(Protocol):
    """An energy Φ over free dofs x (n,), its gradient (n,) and Hessian (CSR, n × n), the
    round-off levels of Φ and of ‖∇Φ‖ (below them no iteration can improve), and the linear
    solver for its Hessians."""

    energy_floor: float
    force_floor: float
    linear_solver: LinearSolver

    def value(self, x: np.ndarray) -> float: ...

    def gradient(self, x: np.ndarray) -> np.ndarray: ...

    def hessian(self, x: np.ndarray) -> sp.csr_matrix: ...


class NewtonFailure(RuntimeError):
    """Newton's method did not reach the tolerance (too many iterations or a failed line search)."""


@dataclass(frozen=True)
class NewtonOptions:
    """Stop when ‖g‖ ≤ max(rtol · max(‖g(x0)‖, force_scale), objective.force_floor)."""

    rtol: float = 1e-9
    max_iterations: int = 30
    max_backtracks: int = 40
    armijo: float = 1e-4


DEFAULT_OPTIONS = NewtonOptions()


@dataclass
class NewtonResult:
    x: np.ndarray
    iterations: int
    gradient_norm: float
    assembly_seconds: float = 0.0
    solve_seconds: float = 0.0
    shifts: int = 0
    history: list[float] = field(default_factory=list)


def descent_direction(solver: LinearSolver, hessian: sp.csr_matrix,
                      gradient: np.ndarray) -> tuple[np.ndarray, int]:
    """d with gᵀd < 0 from (H + τ·diag|H|) d = −g, τ = 0 first; returns (d, shifts used)."""
    shift = 0.0
    for tries in range(SHIFT_TRIES + 1):
        try:
            with np.errstate(all="ignore"):
                direction = solver.solve(hessian, -gradient, shift)
            if np.all(np.isfinite(direction)) and gradient @ direction < 0:
                return direction, tries
        except np.linalg.LinAlgError:       # not positive definite, or singular
            pass
        shift = FIRST_SHIFT if shift == 0.0 else SHIFT_GROWTH * shift
    diagonal = np.abs(hessian.diagonal())
    return -gradient / np.where(diagonal > 0, diagonal, 1.0), SHIFT_TRIES + 1


def line_search(objective: Objective, x: np.ndarray, direction: np.ndarray, value: float,
                slope: float, options: NewtonOptions) -> np.ndarray:
    """Largest α = 2⁻ᵏ with Φ(x + αd) ≤ Φ(x) + c α gᵀd (+ round-off slack); returns x + αd."""
    step = 1.0
    slack = ENERGY_ROUNDOFF * abs(value) + objective.energy_floor
    if -slope <= slack:
        return x + direction
    for _ in range(options.max_backtracks):
        candidate = x + step * direction
        if objective.value(candidate) <= value + options.armijo * step * slope + slack:
            return candidate
        step *= 0.5
    raise NewtonFailure(f"line search: no decrease of the energy after {options.max_backtracks} "
                        f"halvings of the Newton step (last step length {step:.3g})")


def minimize(objective: Objective, x0: np.ndarray, options: NewtonOptions = DEFAULT_OPTIONS,
             force_scale: float = 0.0) -> NewtonResult:
    """Newton iterations from x0 (n,) until ‖∇Φ‖ ≤ max(rtol·max(‖∇Φ(x0)‖, force_scale),
    objective.force_floor).

    Raises NewtonFailure if that takes more than options.max_iterations iterations.
    """
    x = x0.copy()
    if not np.isfinite(objective.value(x)):
        raise NewtonFailure("Newton: the energy is not finite at the starting point (an inverted "
                            "element?); expected a start with finite energy")
    result = NewtonResult(x=x, iterations=0, gradient_norm=np.inf)
    tolerance = None
    for iteration in range(options.max_iterations + 1):
        start = time.perf_counter()
        gradient = objective.gradient(x)
        result.gradient_norm = float(np.linalg.norm(gradient))
        result.history.append(result.gradient_norm)
        if tolerance is None:
            tolerance = max(options.rtol * max(result.gradient_norm, force_scale),
                            objective.force_floor)
        if result.gradient_norm <= tolerance:
            result.assembly_seconds += time.perf_counter() - start
            result.x, result.iterations = x, iteration
            return result
        if iteration == options.max_iterations:
            break
        hessian = objective.hessian(x)
        assembled = time.perf_counter()
        direction, shifts = descent_direction(objective.linear_solver, hessian, gradient)
        result.shifts += shifts
        solved = time.perf_counter()
        x = line_search(objective, x, direction, objective.value(x), gradient @ direction, options)
        result.assembly_seconds += assembled - start
        result.solve_seconds += solved - assembled
    raise NewtonFailure(f"Newton: ‖gradient‖ = {result.gradient_norm:.3g} still above the "
                        f"tolerance {tolerance:.3g} after {options.max_iterations} iterations")
