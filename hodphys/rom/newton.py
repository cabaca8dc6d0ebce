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

import math
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


class NewtonPoints(Protocol):
    """What the Newton loop asks of a system, point by point (``solve`` adapts a NewtonSystem;
    :class:`hodphys.rom.compiled_newton.FusedEulerLagrange` evaluates a point by one compiled call).
    A point is evaluated before its direction or merit is asked for; an implementation may
    remember the last point (the line search's accepted point is the next iteration's)."""

    def evaluate(self, x: np.ndarray) -> tuple[float, float]:
        """‖R(x)‖ and its round-off floor."""

    def direction(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """d from J d = −R at x (evaluated), and the merit's slope along d."""

    def merit(self, x: np.ndarray) -> float:
        """What the line search decreases, at x."""


class _SystemPoints:
    """A :class:`NewtonSystem` as :class:`NewtonPoints` (R kept for the direction and the merit)."""

    def __init__(self, system: NewtonSystem) -> None:
        self.system, self.x, self.residual, self.norm = system, None, None, 0.0

    def evaluate(self, x: np.ndarray) -> tuple[float, float]:
        residual, floor = self.system.residual(x)
        self.x, self.residual, self.norm = x, residual, float(np.linalg.norm(residual))
        return self.norm, floor

    def direction(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        symmetric = self.system.symmetric
        direction = newton_direction(self.system.jacobian(x), self.residual, symmetric)
        return direction, float(self.residual @ direction) if symmetric else -self.norm**2

    def merit(self, x: np.ndarray) -> float:
        return self.system.merit(x, self.residual if x is self.x else None)


def line_search(points: NewtonPoints, x: np.ndarray, direction: np.ndarray, slope: float,
                options: NewtonOptions) -> np.ndarray:
    """x + α d for the first α = 1, ½, … with merit(x + αd) ≤ merit(x) + c α slope (+ round-off slack)."""
    merit = points.merit(x)
    step, slack = 1.0, ROUNDOFF * abs(merit)
    if -slope <= slack:
        return x + direction
    for _ in range(options.max_backtracks):
        candidate = x + step * direction
        if points.merit(candidate) <= merit + options.armijo * step * slope + slack:
            return candidate
        step *= 0.5
    raise NewtonFailure(f"reduced Newton line search: no decrease of the merit function after "
                        f"{options.max_backtracks} halvings (last step length {step:.3g})")


def stopping_tolerance(options: NewtonOptions, first_norm: float, force_scale: float, floor: float) -> float:
    """max(rtol · max(‖R(x₀)‖, force_scale), floor): where the iterations stop."""
    return max(options.rtol * max(first_norm, force_scale), floor)


def iterate(points: NewtonPoints, x0: np.ndarray, options: NewtonOptions,
            force_scale: float = 0.0) -> ReducedNewtonResult:
    """Newton iterations from x0 (r,) to ‖R‖ ≤ the tolerance; raises NewtonFailure otherwise."""
    x = np.array(x0, dtype=np.float64)
    history: list[float] = []
    tolerance = None
    for iteration in range(options.max_iterations + 1):
        norm, floor = points.evaluate(x)
        if not math.isfinite(norm):
            raise NewtonFailure(f"reduced Newton: the residual is not finite at iteration {iteration}")
        history.append(norm)
        if tolerance is None:
            tolerance = stopping_tolerance(options, norm, force_scale, floor)
        if norm <= tolerance:
            return ReducedNewtonResult(x, iteration, norm, history)
        if iteration == options.max_iterations:
            break
        direction, slope = points.direction(x)
        x = line_search(points, x, direction, slope, options)
    raise NewtonFailure(f"reduced Newton: ‖R‖ = {norm:.3g} still above the tolerance {tolerance:.3g} "
                        f"after {options.max_iterations} iterations")


def solve(system: NewtonSystem, x0: np.ndarray, options: NewtonOptions,
          force_scale: float = 0.0) -> ReducedNewtonResult:
    """Newton iterations on a :class:`NewtonSystem` from x0 (r,) (see :func:`iterate`)."""
    return iterate(_SystemPoints(system), x0, options, force_scale)
