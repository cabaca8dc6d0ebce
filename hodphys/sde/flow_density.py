"""A time-conditioned CNF (``hodphys.flows``) as the density of the Fokker–Planck fit.

s(x, t) = log p(x | t) is the CNF's exact log-density with the physical time t as its context
(``CNF(hollow_dynamics(d, context_features=1), context_features=1)``). The residual needs ∂_t s,
∇s and diag ∇²s, i.e. derivatives of the result of an ODE solve with respect to its initial state
and its context.

Design (exact and affordable for d ≲ 8): integrate with a fixed-step solver (``ODEOptions(method=
"rk4")``) so that the solve is one differentiable graph, then differentiate that graph with
torch.autograd — one backward pass for (∇s, ∂_t s) together (rows of the batch are independent,
so the gradient of Σ_n s_n is every row's gradient), and one more per coordinate for
∂²s/∂x_i² (the i-th entry of ∇(∂_i s)). These are the exact derivatives of the computed
log-density, with no estimator. Cost: one forward solve + (1 + d) backward passes through it,
each with create_graph (3 at d = 2, 9 at d = 8); a training step then differentiates that once
more. The engines behind ``hp.*`` evaluate a model one sample at a time under torch.func.vmap,
which cannot trace the flow's input checks and solver, so the derivatives are taken here directly.
An adaptive solver (dopri5) would make the step sizes depend on x and the derivatives those of a
piecewise map; the adjoint method would need the augmented adjoint of every derivative order.

Glossary: N points, d dimensions.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from hodphys.flows import CNF, ODEOptions, hollow_dynamics
from hodphys.sde.density import DensityTerms


def time_conditioned_flow(d: int, steps: int = 8, width: int = 32, hidden_features: int = 8) -> CNF:
    """A CNF with HollowNet dynamics conditioned on the physical time (context q = 1), rk4 with ``steps`` steps."""
    dynamics = hollow_dynamics(d, context_features=1, hidden_features=hidden_features, width=width)
    return CNF(dynamics, context_features=1, ode=ODEOptions(method="rk4", steps=steps))


class FlowLogDensity(nn.Module):
    """z = (x, t) ↦ log p(x | t) of a time-conditioned CNF, (N, d+1) → (N, 1); ``sample(t)`` draws x ~ p(· | t)."""

    def __init__(self, flow: CNF):
        super().__init__()
        if flow.context_features != 1:
            raise ValueError(f"FlowLogDensity: expected a CNF conditioned on the time alone "
                             f"(context_features=1), got context_features={flow.context_features}")
        self.flow = flow

    def forward(self, z: Tensor) -> Tensor:
        return self.flow.log_prob(z[:, :-1], context=z[:, -1:]).unsqueeze(-1)

    @torch.no_grad()
    def sample(self, t: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One sample per time, t (N,) → (N, d)."""
        return self.flow.sample(len(t), context=t.unsqueeze(-1), generator=generator)


def flow_density_terms(density: FlowLogDensity, x: Tensor, t: Tensor) -> DensityTerms:
    """s, ∂_t s, ∇s, diag ∇²s of a CNF log-density by autograd through the solve (1 + d backward passes).

    Shapes: x (N, d), t (N,) → :class:`DensityTerms`; differentiable in the flow's parameters.
    """
    x = x.detach().requires_grad_(True)
    t = t.detach().requires_grad_(True)
    s = density.flow.log_prob(x, context=t.unsqueeze(-1))
    gradient, time = torch.autograd.grad(s.sum(), (x, t), create_graph=True)
    diagonal = [torch.autograd.grad(gradient[:, i].sum(), x, create_graph=True)[0][:, i]
                for i in range(x.shape[1])]
    return DensityTerms(s, time, gradient, torch.stack(diagonal, dim=-1))
