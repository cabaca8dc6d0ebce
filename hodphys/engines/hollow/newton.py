"""Jacobi–Newton root finding for implicit ODE steps, and a backward-Euler step built on it.

An implicit step solves g(y) = y − y* − γ f(t, y) = 0 (backward Euler: y* = y_n, γ = h; BDF2:
y* = (4y_n − y_{n−1})/3, γ = 2h/3). Full Newton needs the d × d Jacobian I − γ ∂f/∂y; Jacobi–Newton
keeps only its diagonal, which a HollowNet gives in one backward pass:

    y ← y − g(y) / (1 − γ · D_dim f(y))          (elementwise)

For stiff dynamics whose stiffness sits on the diagonal (f = −K ⊙ y + weak coupling, K·h ≫ 1) it
converges where plain fixed-point iteration y ← y* + γ f(y) diverges (its factor is γK ≫ 1), and it
converges to the same root as full Newton. The iterations run without building a graph.

``dynamics`` is a HollowNet (or ``net.bind(...)``) or any callable (t, y) ↦ (f(t, y), D_dim f(t, y)).
Glossary: B batch shape, d dimensions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

import torch
from torch import Tensor, nn

from hodphys.engines.hollow.dim_derivatives import value_and_dim_derivatives
from hodphys.shapes import broadcast_shape
from hodphys.nn.hollow import BoundHollowNet, HollowNet

DEFAULT_TOL = {torch.float64: 1e-10, torch.float32: 1e-5}
Dynamics = nn.Module | Callable[[Any, Tensor], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class NewtonReport:
    """The outcome of :func:`jacobi_newton`: the last iterate y (*B, d) and how it got there.

    residuals[j] = max |g(y_j)| after j updates; iterations = number of updates taken.
    """

    y: Tensor
    converged: bool
    iterations: int
    residuals: tuple[float, ...]
    tol: float

    @property
    def residual(self) -> float:
        return self.residuals[-1]

    def __str__(self) -> str:
        trail = " → ".join(f"{r:.2e}" for r in self.residuals)
        state = "converged" if self.converged else "did NOT converge"
        return (f"Jacobi–Newton {state} after {self.iterations} iteration(s): "
                f"max|g(y)| {trail} (tol {self.tol:g})")


class NewtonConvergenceError(RuntimeError):
    """Raised by :func:`jacobi_newton` when it does not converge; ``.report`` holds the details."""

    def __init__(self, report: NewtonReport, hint: str):
        super().__init__(f"{report}. {hint}")
        self.report = report


def _evaluator(dynamics: Dynamics, t: Any, context: Tensor | None) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """y ↦ (f(t, y), D_dim f(t, y))."""
    if isinstance(dynamics, (HollowNet, BoundHollowNet)):
        def hollow(y: Tensor) -> tuple[Tensor, Tensor]:
            value, (diagonal,) = value_and_dim_derivatives(dynamics, y, 1, t=t, context=context)
            return value, diagonal
        return hollow
    if context is not None:
        raise TypeError("jacobi_newton: context is only for a HollowNet; close over it in your callable")
    if not callable(dynamics):
        raise TypeError(f"jacobi_newton: expected dynamics to be a HollowNet or a callable (t, y) ↦ "
                        f"(f, D_dim f), got {type(dynamics).__name__}")
    return lambda y: dynamics(t, y)


def _checked(result: Any, y: Tensor) -> tuple[Tensor, Tensor]:
    """(f, D_dim f) from the dynamics: f of y's shape (broadcasting would hide a wrong model),
    D_dim f of y's shape or broadcasting to it (a constant diagonal)."""
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(f"jacobi_newton: expected the dynamics to return (f, D_dim f), got {type(result).__name__}")
    f, diagonal = result
    if not isinstance(f, Tensor) or f.shape != y.shape:
        shape = tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__
        raise ValueError(f"jacobi_newton: expected the dynamics' f of y's shape {tuple(y.shape)}, got {shape}")
    if not isinstance(diagonal, Tensor) or broadcast_shape(diagonal.shape, y.shape) != tuple(y.shape):
        shape = tuple(diagonal.shape) if isinstance(diagonal, Tensor) else type(diagonal).__name__
        raise ValueError(f"jacobi_newton: expected the dynamics' D_dim f broadcasting to y's shape "
                         f"{tuple(y.shape)}, got {shape}")
    return f, diagonal


def _check_positive(call: str, name: str, value: Any, kind: type | tuple[type, ...]) -> None:
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        raise ValueError(f"{call}: expected {name} > 0, got {name}={value!r}")


def jacobi_newton(dynamics: Dynamics, target: Tensor, scale: float | Tensor, *, t: Any = None,
                  context: Tensor | None = None, y0: Tensor | None = None, tol: float | None = None,
                  max_iter: int = 10, raise_on_failure: bool = True) -> NewtonReport:
    """Solve y − target − scale·f(t, y) = 0 by elementwise Newton with the diagonal D_dim f.

    Args:
        dynamics: a HollowNet (or bound one), or a callable (t, y) ↦ (f, D_dim f), each (*B, d).
        target: y*, shape (*B, d); scale: γ > 0, a float or a tensor broadcasting against target.
        t: the time f is evaluated at (passed to a callable as its first argument).
        context: the context f is evaluated with.
        y0: the initial guess (default: target).
        tol: stop when max |g(y)| ≤ tol (absolute, over the whole batch); default 1e-10 in
            float64 and 1e-5 in float32 (whose rounding floor is ~1e-7 × the size of y and γf).
        max_iter: at most this many updates.
        raise_on_failure: raise :class:`NewtonConvergenceError` if not converged (else return
            the report with ``converged=False``).
    """
    tol = DEFAULT_TOL.get(target.dtype, 1e-10) if tol is None else tol
    _check_positive("jacobi_newton", "tol", tol, (int, float))
    _check_positive("jacobi_newton", "max_iter", max_iter, int)
    evaluate = _evaluator(dynamics, t, context)
    y = target.detach() if y0 is None else y0.detach()
    if y.shape != target.shape:
        raise ValueError(f"jacobi_newton: expected y0 of the target's shape {tuple(target.shape)}, "
                         f"got {tuple(y.shape)}")
    residuals: list[float] = []
    with torch.no_grad():
        for step in range(max_iter + 1):
            f, diagonal = _checked(evaluate(y), y)
            g = y - target - scale * f
            residuals.append(float(g.abs().max()))
            if residuals[-1] <= tol or not math.isfinite(residuals[-1]) or step == max_iter:
                break
            y = y - g / (1 - scale * diagonal)
    report = NewtonReport(y, residuals[-1] <= tol, step, tuple(residuals), float(tol))
    if not report.converged and raise_on_failure:
        raise NewtonConvergenceError(report, _hint(report))
    return report


def _hint(report: NewtonReport) -> str:
    residuals = report.residuals
    if not math.isfinite(report.residual) or report.residual > residuals[0]:
        return ("The iteration diverged: the off-diagonal (hollow) coupling is too strong for a "
                "Jacobi iteration at this step size (or 1 − scale·D_dim f vanished somewhere); "
                "take a smaller step or use full Newton")
    if len(residuals) < 2 or report.residual < 0.9 * residuals[-2]:
        return "It is still decreasing: raise max_iter, loosen tol or take a smaller step"
    floor = 100 * torch.finfo(report.y.dtype).eps * max(1.0, float(report.y.abs().max()))
    if report.residual < floor:
        return (f"It stalled near max|g| ≈ {report.residual:.1e}, the rounding floor of "
                f"{report.y.dtype} at this scale: loosen tol")
    return (f"It stopped decreasing at max|g| ≈ {report.residual:.1e}, far above the rounding floor: "
            f"the hollow coupling nearly cancels the diagonal; take a smaller step or use full Newton")


def backward_euler_step(dynamics: Dynamics, y: Tensor, h: float, *, t: float | None = None,
                        context: Tensor | None = None, tol: float | None = None, max_iter: int = 10,
                        raise_on_failure: bool = True) -> NewtonReport:
    """One backward-Euler step y_{n+1} = y_n + h f(t + h, y_{n+1}), solved by :func:`jacobi_newton`.

    y: (*B, d); t: the current time (None for dynamics without time). Returns the report; the new
    state is ``report.y``.
    """
    _check_positive("backward_euler_step", "h", h, (int, float))
    return jacobi_newton(dynamics, y, h, t=None if t is None else t + h, context=context, tol=tol,
                         max_iter=max_iter, raise_on_failure=raise_on_failure)
