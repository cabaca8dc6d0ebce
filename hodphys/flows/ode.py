"""The CNF's ODE: the augmented state, its right-hand side with counted evaluations, and torchdiffeq.

State (z, Δ, K, J), each row one sample:

    dz/dt = f(z, t),   dΔ/dt = div f,   dK/dt = ‖f‖²,   dJ/dt = (b/p) ‖εᵀ ∂f/∂z‖²

Δ(T) = ∫ div f dt gives log p(x) = log N(z(T)) + Δ(T); K and J are RNODE's kinetic-energy and
Jacobian–Frobenius integrals (present only when asked). b ~ Bernoulli(p) is drawn anew at every
evaluation (:class:`JacobianDraws`; p = 1: b = 1, no draw), so J is an unbiased estimate of the
solver's quadrature of ∫‖εᵀ∂f/∂z‖² dt, and the evaluations with b = 0 need no εᵀ∂f/∂z — for a
HollowNet's exact trace no backward pass through the conditioner. J never feeds back into the
other components; p < 1 only for fixed-step solves (a random right-hand side would upset an
adaptive solver's step-size control and the adjoint's re-evaluations). Every ODE is solved by torchdiffeq
(``odeint``, or ``odeint_adjoint`` for O(1)-memory gradients).

NFE: the right-hand side counts its evaluations; a gradient hook on each evaluation's f counts
how many of them the backward pass goes through (all the kept ones for direct backpropagation,
the adjoint system's own for ``adjoint=True``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torchdiffeq
from torch import Tensor, nn

from hodphys.checks import check_integers
from hodphys.flows.dynamics import bind
from hodphys.flows.trace import evaluate_field
from hodphys.nn import HollowNet

ADAPTIVE = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")
FIXED = ("rk4", "midpoint", "euler", "heun3")


@dataclass(frozen=True)
class ODEOptions:
    """How to integrate: torchdiffeq ``method``; ``atol``/``rtol`` for adaptive methods; ``steps``
    (fixed step size T/steps) for fixed-grid ones such as "rk4"; ``adjoint`` for the adjoint method."""

    method: str = "dopri5"
    atol: float = 1e-5
    rtol: float = 1e-5
    steps: int = 8
    adjoint: bool = False

    def check(self, owner: str) -> ODEOptions:
        if self.method not in ADAPTIVE + FIXED:
            raise ValueError(f"{owner}: unknown ODE method={self.method!r}; expected an adaptive one "
                             f"{list(ADAPTIVE)} or a fixed-step one {list(FIXED)}")
        if not (0 < self.atol < math.inf and 0 < self.rtol < math.inf):
            raise ValueError(f"{owner}: expected positive finite atol and rtol, got {self.atol}, {self.rtol}")
        check_integers(owner, 1, steps=self.steps)
        return self

    def solver_arguments(self, span: float) -> dict:
        """Keyword arguments of torchdiffeq.odeint for an integration over a time span."""
        if self.method in ADAPTIVE:
            return {"method": self.method, "atol": self.atol, "rtol": self.rtol}
        return {"method": self.method, "options": {"step_size": abs(span) / self.steps}}


@dataclass
class JacobianDraws:
    """b ~ Bernoulli(share) per evaluation, from ``generator`` (None: torch's global one)."""

    share: float = 1.0
    generator: torch.Generator | None = None

    def draw(self) -> bool:
        """Whether this evaluation takes the Jacobian integrand (always, without a draw, at share 1)."""
        return self.share >= 1 or bool(torch.rand((), generator=self.generator) < self.share)


class AugmentedDynamics(nn.Module):
    """The right-hand side of the augmented state, for one solve at a time (see :meth:`prepare`)."""

    def __init__(self, dynamics: nn.Module, trace: str):
        super().__init__()
        self.dynamics, self.trace = dynamics, trace
        # one bound field f(·, t, context) for the flow's life, its t and context set per evaluation
        # and solve: hp.divergence remembers its engine choice per module object, so a new module per
        # evaluation would choose again each time (kept in a tuple: not a submodule, so the state
        # dict never changes with the solves)
        self._field: tuple[nn.Module, ...] = (bind(dynamics, torch.zeros(()), None),)
        self.estimator = trace
        self.noise: Tensor | None = None
        self.density = self.regularise = False
        self.jacobian_draws = JacobianDraws()
        self.calls = 0
        self.backward_calls = torch.zeros(())

    def prepare(self, context: Tensor | None, noise: Tensor | None, density: bool, regularise: bool,
                jacobian_draws: JacobianDraws | None = None) -> None:
        """Fix what one solve needs: the context, the probe ε, which parts of the state move, and
        which evaluations take the Jacobian integrand."""
        self.noise, self.density, self.regularise = noise, density, regularise
        self.jacobian_draws = jacobian_draws or JacobianDraws()
        self.backward_calls = torch.zeros(())  # a new counter: earlier results keep their value
        self._field[0].context = context
        # the generic engines evaluate a module one sample at a time, which a per-sample context
        # bound into it cannot follow: the exact trace of such a field is taken by d passes
        generic_with_context = context is not None and not isinstance(self.dynamics, HollowNet)
        self.estimator = "brute" if self.trace == "exact" and generic_with_context else self.trace

    def _count_backward(self, grad: Tensor) -> None:
        self.backward_calls.add_(1)

    def _counted(self, f: Tensor) -> Tensor:
        """f, with a hook that counts the backward pass going through this evaluation."""
        if f.requires_grad:
            f.register_hook(self._count_backward)
        return f

    def forward(self, t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        self.calls += 1
        (field,) = self._field
        field.t = t
        if not self.density:
            return (self._counted(field(state[0])),)
        jacobian = self.regularise and self.jacobian_draws.draw()
        # the exact estimators need ε only for the Jacobian integrand; Hutchinson's trace always
        needs_noise = jacobian or self.estimator == "hutchinson"
        evaluation = evaluate_field(field, state[0], self.estimator, self.noise if needs_noise else None)
        f = self._counted(evaluation.value)
        derivatives = [f, evaluation.divergence.unsqueeze(-1)]
        if self.regularise:
            derivatives.append(f.square().sum(-1, keepdim=True))
            derivatives.append(evaluation.vjp.square().sum(-1, keepdim=True) / self.jacobian_draws.share
                               if jacobian else torch.zeros_like(derivatives[-1]))
        return tuple(derivatives)


def integrate(func: AugmentedDynamics, state: tuple[Tensor, ...], t0: float, t1: float,
              options: ODEOptions) -> tuple[tuple[Tensor, ...], int]:
    """The state at t1 from the state at t0, and the number of right-hand-side evaluations."""
    like = state[0]
    times = torch.tensor([t0, t1], dtype=like.dtype, device=like.device)
    arguments = options.solver_arguments(t1 - t0)
    before = func.calls
    if options.adjoint:
        params = tuple(p for p in func.parameters() if p.requires_grad)
        solution = torchdiffeq.odeint_adjoint(func, state, times, adjoint_params=params, **arguments)
    else:
        solution = torchdiffeq.odeint(func, state, times, **arguments)
    return tuple(s[-1] for s in solution), func.calls - before
