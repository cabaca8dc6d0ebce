"""Newton's method on small dense reduced systems, with a backtracking line search.

Index letters: r unknowns.

A ``NewtonSystem`` gives at x (r,) its residual R (r,), the Jacobian ∂R/∂x (r, r) and a merit
function that the line search decreases: the energy Φ when R = ∇Φ (``symmetric``; the step then
comes from a Cholesky solve of the Hessian, shifted by τ·max|diag| until positive definite), or
½‖R‖² otherwise (an LU solve; its slope along the Newton step is −‖R‖²). The step length halves
until merit(x + αd) ≤ merit(x) + c α slope (+ round-off slack). Stops when
‖R‖ ≤ max(rtol · max(‖R(x₀)‖, force_scale), floor); failures raise hodphys.fem's NewtonFailure,
which the time loop answers by halving the step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.linalg

from hodphys.fem import NewtonFailure, NewtonOptions

FIRST_SHIFT, SHIFT_GROWTH, SHIFT_TRIES = 1e-8, 10.0, 12
ROUNDOFF = 1e-13


class NewtonSystem(Protocol):
    symmetric: bool

    def residual(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """R(x) (r,) and the round-off level of ‖R‖ at x."""

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """∂R/∂x at the x of the last residual call; (r, r)."""

    def merit(self, x: np.ndarray, residual: np.ndarray | None) -> float:
        """What the line search decreases (residual: R(x) if already known, else None)."""


@dataclass
class ReducedNewtonResult:
    x: np.ndarray
    iterations: int
    residual_norm: float
    history: list[float] = field(default_factory=list)


def newton_direction(jacobian: np.ndarray, residual: np.ndarray, symmetric: bool) -> np.ndarray:
    """d from J d = −R; symmetric J is shifted until Cholesky succeeds (a descent direction). Otherwise
    LAPACK's LU (gesv: ≈ 1 µs for r = 6, np.linalg.solve's checks ≈ 5 µs), least squares where singular."""
    if not symmetric:
        _, _, direction, info = scipy.linalg.lapack.dgesv(jacobian, -residual)
        return direction if info == 0 else np.linalg.lstsq(jacobian, -residual, rcond=None)[0]
    scale = max(float(np.abs(np.diag(jacobian)).max()), 1e-300)
    shift = 0.0
    for _ in range(SHIFT_TRIES):
        try:
            factor = scipy.linalg.cho_factor(jacobian + shift * scale * np.eye(len(residual)))
            return scipy.linalg.cho_solve(factor, -residual)
        except np.linalg.LinAlgError:
            shift = FIRST_SHIFT if shift == 0.0 else SHIFT_GROWTH * shift
    return -residual / scale


def line_search(system: NewtonSystem, x: np.ndarray, direction: np.ndarray, merit: float,
                slope: float, options: NewtonOptions) -> np.ndarray:
    step, slack = 1.0, ROUNDOFF * abs(merit)
    if -slope <= slack:
        return x + direction
    for _ in range(options.max_backtracks):
        candidate = x + step * direction
        if system.merit(candidate, None) <= merit + options.armijo * step * slope + slack:
            return candidate
        step *= 0.5
    raise NewtonFailure(f"reduced Newton line search: no decrease of the merit function after "
                        f"{options.max_backtracks} halvings (last step length {step:.3g})")


def stopping_tolerance(options: NewtonOptions, first_norm: float, force_scale: float, floor: float) -> float:
    """max(rtol · max(‖R(x₀)‖, force_scale), floor): where the iterations stop."""
    return max(options.rtol * max(first_norm, force_scale), floor)


def solve(system: NewtonSystem, x0: np.ndarray, options: NewtonOptions,
          force_scale: float = 0.0) -> ReducedNewtonResult:
    """Newton iterations from x0 (r,) to ‖R‖ ≤ the tolerance; raises NewtonFailure otherwise."""
    x = np.array(x0, dtype=np.float64)
    result = ReducedNewtonResult(x, 0, np.inf)
    tolerance = None
    for iteration in range(options.max_iterations + 1):
        residual, floor = system.residual(x)
        norm = float(np.linalg.norm(residual))
        if not np.isfinite(norm):
            raise NewtonFailure(f"reduced Newton: the residual is not finite at iteration {iteration}")
        result.history.append(norm)
        if tolerance is None:
            tolerance = stopping_tolerance(options, norm, force_scale, floor)
        if norm <= tolerance:
            result.x, result.iterations, result.residual_norm = x, iteration, norm
            return result
        if iteration == options.max_iterations:
            break
        direction = newton_direction(system.jacobian(x), residual, system.symmetric)
        slope = float(residual @ direction) if system.symmetric else -norm**2
        x = line_search(system, x, direction, system.merit(x, residual), slope, options)
    raise NewtonFailure(f"reduced Newton: ‖R‖ = {norm:.3g} still above the tolerance {tolerance:.3g} "
                        f"after {options.max_iterations} iterations")
