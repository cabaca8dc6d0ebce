"""Continuous normalizing flow (FFJORD) with an exact, one-pass divergence for HollowNet dynamics.

Data x at t = 0 is carried to z = z(T) by dz/dt = f(z, t[, c]); the base density at T is N(0, I):

    log p(x | c) = log N(z(T); 0, I) + ∫_0^T div f(z(t), t, c) dt

The trace is "exact" (default: ``hp.divergence``, one backward pass for a HollowNet), "hutchinson"
(Rademacher or Gaussian probe ε, fixed for one solve) or "brute" (d backward passes). The RNODE
regularisers (Finlay et al. 2020) λ_K ∫‖f‖² dt + λ_J ∫‖εᵀ∂f/∂z‖² dt are added by :meth:`CNF.loss`;
the Jacobian term's integrand (E‖εᵀ∂f/∂z‖² = ‖∂f/∂z‖_F²) is taken, for every estimator alike, at a
random ``jacobian_fraction`` of a fixed-step solve's evaluations and weighted by its inverse
(unbiased), so the exact trace of a HollowNet pays the backward pass through its conditioner there
only (see :mod:`hodphys.flows.ode`).

Context: with ``context_features = q`` every call takes ``context`` of shape (B, q) or (q,),
passed to the dynamics as f(z, t, context) — a conditional density p(x | c), e.g. p(x, s) with
a physical time s as the context.

Glossary: B batch, d data dimension, q context features.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from hodphys.checks import check_integers
from hodphys.flows.dynamics import check_dynamics, dimension_of
from hodphys.flows.ode import FIXED, AugmentedDynamics, JacobianDraws, ODEOptions, integrate
from hodphys.flows.trace import check_estimator, probe_noise

JACOBIAN_FRACTION = 0.25  # default share of a fixed-step solve's evaluations that take the Jacobian term


class NFE(NamedTuple):
    """Function evaluations of the last solve: forward (the solve itself) and backward (the
    evaluations the backward pass went through; 0 until a backward pass ran)."""

    forward: int
    backward: int


class FlowTerms(NamedTuple):
    """Per-sample results of one density solve: log p (B,), z(T) (B, d), RNODE integrals K, J (B,) or None."""

    log_prob: Tensor
    z: Tensor
    kinetic: Tensor | None
    jacobian: Tensor | None


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) = −‖z‖²/2 − (d/2) log 2π, (B, d) → (B,)."""
    return -0.5 * z.square().sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


def _positive(owner: str, name: str, value: Any, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}: expected {name} to be a finite number {bound}, got {value!r}")
    return float(value)


class CNF(nn.Module):
    """A continuous normalizing flow on R^d.

    Args:
        dynamics: f(z, t) or f(z, t, context), (B, d) → (B, d): :func:`hollow_dynamics` (default
            choice: exact divergence in one pass), :class:`TimeConditionedMLP` or any module.
        d: the dimension; taken from ``dynamics.in_features`` when omitted.
        context_features: q, the size of the context (0: unconditional).
        trace: "exact", "hutchinson" or "brute" (see :mod:`hodphys.flows.trace`).
        noise: Hutchinson's (and the Jacobian regulariser's) probe, "rademacher" or "gaussian".
        t1: T, the end time of the flow.
        ode: :class:`ODEOptions` (dopri5 with atol = rtol = 1e-5 by default; "rk4" with
            ``steps``; ``adjoint``).
        kinetic, jacobian: RNODE weights λ_K, λ_J (0: off).
        jacobian_fraction: p ∈ (0, 1], the probability that an evaluation of a fixed-step solve
            takes the Jacobian integrand (weighted 1/p); adaptive and adjoint solves take it at every
            evaluation. 1: RNODE's estimate, every evaluation.

    Example::

        flow = CNF(hollow_dynamics(2))
        flow.log_prob(x)            # (B,), exact; flow.nfe → NFE(forward=…, backward=0)
        loss, terms = flow.loss(x)  # mean NLL (+ RNODE terms)
        x_new = flow.sample(1000)
    """

    def __init__(self, dynamics: nn.Module, d: int | None = None, context_features: int = 0,
                 trace: str = "exact", noise: str = "rademacher", t1: float = 1.0,
                 ode: ODEOptions | None = None, kinetic: float = 0.0, jacobian: float = 0.0,
                 jacobian_fraction: float = JACOBIAN_FRACTION):
        super().__init__()
        owner = f"CNF({type(dynamics).__name__}, trace={trace!r})"
        check_integers(owner, 0, context_features=context_features)
        check_dynamics(owner, dynamics, context_features)
        check_estimator(owner, trace, noise)
        declared = dimension_of(dynamics)
        if d is None and declared is None:
            raise ValueError(f"{owner}: the dynamics does not declare in_features; pass d=…")
        if d is not None and declared is not None and d != declared:
            raise ValueError(f"{owner}: d={d} but the dynamics has in_features={declared}")
        self.d = d if d is not None else declared
        check_integers(owner, 1, d=self.d)
        self.context_features, self.trace, self.noise = context_features, trace, noise
        self.t1 = _positive(owner, "t1", t1)
        self.ode = (ode or ODEOptions()).check(owner)
        self.kinetic = _positive(owner, "kinetic", kinetic, allow_zero=True)
        self.jacobian = _positive(owner, "jacobian", jacobian, allow_zero=True)
        self.jacobian_fraction = _positive(owner, "jacobian_fraction", jacobian_fraction)
        if self.jacobian_fraction > 1:
            raise ValueError(f"{owner}: expected jacobian_fraction in (0, 1], got {jacobian_fraction!r}")
        self.func = AugmentedDynamics(dynamics, trace)  # registers the dynamics' parameters once
        self._forward_nfe = 0

    @property
    def dynamics(self) -> nn.Module:
        """f(z, t[, context])."""
        return self.func.dynamics

    def with_options(self, **changes: Any) -> CNF:
        """The same flow (shared dynamics and parameters) with other options, e.g. an exact evaluator
        ``flow.with_options(trace="exact", ode=ODEOptions(atol=1e-6, rtol=1e-6))``."""
        options = {"d": self.d, "context_features": self.context_features, "trace": self.trace,
                   "noise": self.noise, "t1": self.t1, "ode": self.ode, "kinetic": self.kinetic,
                   "jacobian": self.jacobian, "jacobian_fraction": self.jacobian_fraction}
        unknown = sorted(set(changes) - set(options))
        if unknown:
            raise ValueError(f"CNF.with_options: unknown option(s) {unknown}; expected some of {sorted(options)}")
        return CNF(self.dynamics, **{**options, **changes})

    # --- input checks -------------------------------------------------------------------------
    def _check_points(self, call: str, name: str, x: Any) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{call}: expected {name} to be a tensor of shape (B, {self.d}), got {type(x).__name__}")
        if x.ndim != 2 or x.shape[-1] != self.d:
            raise ValueError(f"{call}: expected {name} of shape (B, {self.d}), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"{call}: expected a floating-point {name}, got {x.dtype}")
        if not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x)).any(-1).sum())
            raise ValueError(f"{call}: {name} has NaN or infinite values in {bad} of {x.shape[0]} rows")
        return x

    def _check_context(self, call: str, context: Any, like: Tensor) -> Tensor | None:
        q = self.context_features
        if context is None:
            if q:
                raise ValueError(f"{call}: this CNF is conditioned on a context of {q} features; pass "
                                 f"context of shape (B, {q}) or ({q},)")
            return None
        if not q:
            raise ValueError(f"{call}: this CNF takes no context (build it with context_features=q)")
        context = torch.as_tensor(context, dtype=like.dtype, device=like.device)
        if context.shape not in ((q,), (like.shape[0], q)):
            raise ValueError(f"{call}: expected context of shape ({q},) or ({like.shape[0]}, {q}), "
                             f"got {tuple(context.shape)}")
        if not torch.isfinite(context).all():
            raise ValueError(f"{call}: context has NaN or infinite values")
        return context.expand(like.shape[0], q)

    # --- solves -------------------------------------------------------------------------------
    def _probe(self, x: Tensor, regularise: bool, generator: torch.Generator | None) -> Tensor | None:
        if self.trace == "hutchinson" or regularise:
            return probe_noise(self.noise, x, generator)
        return None

    def _solve(self, state: tuple[Tensor, ...], context: Tensor | None, t0: float, t1: float,
               noise: Tensor | None, density: bool, regularise: bool,
               generator: torch.Generator | None = None) -> tuple[Tensor, ...]:
        share = self.jacobian_fraction if regularise and self.ode.method in FIXED and not self.ode.adjoint else 1.0
        self.func.prepare(context, noise, density, regularise, JacobianDraws(share, generator))
        final, self._forward_nfe = integrate(self.func, state, t0, t1, self.ode)
        return final

    def density_terms(self, x: Tensor, context: Any = None, regularise: bool = False,
                      generator: torch.Generator | None = None) -> FlowTerms:
        """log p(x | c) (B,), z(T), and with ``regularise`` the RNODE integrals K and J (B,)."""
        call = "CNF.log_prob(x)"
        x = self._check_points(call, "x", x)
        context = self._check_context(call, context, x)
        zeros = x.new_zeros(x.shape[0], 1)
        state = (x, zeros, zeros, zeros) if regularise else (x, zeros)
        final = self._solve(state, context, 0.0, self.t1, self._probe(x, regularise, generator),
                            density=True, regularise=regularise, generator=generator)
        z, integral = final[0], final[1].squeeze(-1)
        log_prob = standard_normal_log_prob(z) + integral
        if not regularise:
            return FlowTerms(log_prob, z, None, None)
        return FlowTerms(log_prob, z, final[2].squeeze(-1), final[3].squeeze(-1))

    def log_prob(self, x: Tensor, context: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """log p(x | c), shape (B,); x (B, d). ``generator`` seeds Hutchinson's probe."""
        return self.density_terms(x, context, generator=generator).log_prob

    def loss(self, x: Tensor, context: Any = None,
             generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """mean NLL + λ_K mean K + λ_J mean J, and its terms (NLL, K, J, NFE forward/backward).

        ``nfe_backward`` is a counter that the backward pass of this loss fills in.
        """
        regularise = bool(self.kinetic or self.jacobian)
        terms = self.density_terms(x, context, regularise, generator)
        nll = -terms.log_prob.mean()
        parts = {"nll": nll}
        loss = nll
        if regularise:
            parts.update(kinetic=terms.kinetic.mean(), jacobian=terms.jacobian.mean())
            loss = nll + self.kinetic * parts["kinetic"] + self.jacobian * parts["jacobian"]
        parts.update(nfe_forward=torch.tensor(float(self._forward_nfe)), nfe_backward=self.func.backward_calls)
        return loss, parts

    def _transport(self, call: str, points: Tensor, context: Any, t0: float, t1: float) -> Tensor:
        points = self._check_points(call, "x" if t0 == 0 else "z", points)
        context = self._check_context(call, context, points)
        return self._solve((points,), context, t0, t1, None, density=False, regularise=False)[0]

    def forward(self, x: Tensor, context: Any = None) -> Tensor:
        """z = z(T) for x = z(0): data → base, (B, d) → (B, d)."""
        return self._transport("CNF.forward(x)", x, context, 0.0, self.t1)

    def inverse(self, z: Tensor, context: Any = None) -> Tensor:
        """x = z(0) for z = z(T): base → data, (B, d) → (B, d)."""
        return self._transport("CNF.inverse(z)", z, context, self.t1, 0.0)

    def sample(self, n: int, context: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """n samples of p(x | c), (n, d): z ~ N(0, I) carried back from T to 0."""
        check_integers("CNF.sample(n)", 1, n=n)
        like = next(self.dynamics.parameters(), torch.empty(0))
        z = torch.randn(n, self.d, generator=generator, dtype=like.dtype).to(like.device)
        return self.inverse(z, context)

    @property
    def nfe(self) -> NFE:
        """Function evaluations of the last solve (forward) and of the backward pass through it."""
        return NFE(self._forward_nfe, int(self.func.backward_calls))

    def extra_repr(self) -> str:
        return (f"d={self.d}, context_features={self.context_features}, trace={self.trace!r}, "
                f"t1={self.t1}, ode={self.ode}, kinetic={self.kinetic}, jacobian={self.jacobian}, "
                f"jacobian_fraction={self.jacobian_fraction}")
