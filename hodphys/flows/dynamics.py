"""Time-conditioned dynamics f(z, t[, context]) for a CNF, and binding them to one time.

A CNF's dynamics is a module called as ``dynamics(z, t)`` — or ``dynamics(z, t, context)`` when
the flow is conditioned on an external context — mapping z (B, d) to dz/dt (B, d); t is a 0-dim
tensor (the ODE solver's current time), context (B, q) or (q,).

* :func:`hollow_dynamics` builds the default: a time-conditioned :class:`hodphys.nn.HollowNet`,
  whose exact divergence ``hp.divergence`` takes in one backward pass (the "hollow" engine).
* :class:`TimeConditionedMLP` is a plain MLP on [z, t, context]: exact divergence costs d passes.
* Any other module with that call signature works too.

:func:`bind` fixes t (and the context) and returns a module of z alone — for a HollowNet its
``bind``, a :class:`hodphys.nn.BoundHollowNet`, so ``hp.divergence`` still picks the hollow engine.

Glossary: B batch, d dimension, q context features.
"""
from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor, nn

from hodphys.checks import check_integers
from hodphys.nn import HollowNet


def hollow_dynamics(d: int, context_features: int = 0, hidden_features: int = 16, width: int = 64,
                    depth: int = 2, activation: nn.Module | None = None, **options: Any) -> HollowNet:
    """The default CNF dynamics: ``HollowNet(d, time=True, context_features=q, …)``.

    The transformer and the conditioner share ``width``/``depth`` unless ``options`` set
    ``transformer_width``/``transformer_depth`` (or ``conditioner="masked"``).
    """
    options.setdefault("transformer_width", width)
    options.setdefault("transformer_depth", depth)
    return HollowNet(d, hidden_features=hidden_features, width=width, depth=depth,
                     activation=activation, time=True, context_features=context_features, **options)


class TimeConditionedMLP(nn.Module):
    """f(z, t, c) = MLP([z, t, c]): a general (non-hollow) dynamics, (B, d) → (B, d).

    Its exact divergence costs d backward passes (or the generic engines' equivalent); use it to
    compare with :func:`hollow_dynamics` at the same width and depth.
    """

    def __init__(self, d: int, width: int = 64, depth: int = 2, context_features: int = 0,
                 activation: nn.Module | None = None):
        super().__init__()
        check_integers("TimeConditionedMLP", 1, d=d, width=width, depth=depth)
        check_integers("TimeConditionedMLP", 0, context_features=context_features)
        activation = nn.Softplus() if activation is None else activation
        sizes = [d + 1 + context_features] + [width] * depth
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), activation]
        self.net = nn.Sequential(*layers, nn.Linear(width, d))
        self.in_features = self.out_features = d
        self.context_features = context_features

    def forward(self, z: Tensor, t: Any, context: Tensor | None = None) -> Tensor:
        parts = [z, torch.as_tensor(t, dtype=z.dtype, device=z.device).expand(*z.shape[:-1], 1)]
        if context is not None:
            parts.append(torch.as_tensor(context, dtype=z.dtype, device=z.device)
                         .expand(*z.shape[:-1], self.context_features))
        return self.net(torch.cat(parts, dim=-1))


def dimension_of(dynamics: nn.Module) -> int | None:
    """d from ``in_features`` (HollowNet, TimeConditionedMLP) or None when the module does not say."""
    d = getattr(dynamics, "in_features", None)
    return d if isinstance(d, int) and not isinstance(d, bool) else None


def _positional_arity(module: nn.Module) -> float:
    """How many positional arguments module(...) accepts (inf with *args)."""
    try:
        parameters = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return float("inf")
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return float("inf")
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def check_dynamics(owner: str, dynamics: Any, context_features: int) -> None:
    """ValueError/TypeError, before any integration, unless dynamics can be called as f(z, t[, context])."""
    if not isinstance(dynamics, nn.Module):
        raise TypeError(f"{owner}: expected dynamics to be an nn.Module f(z, t), got {type(dynamics).__name__}")
    if isinstance(dynamics, HollowNet):
        if not dynamics.time:
            raise ValueError(f"{owner}: the HollowNet(d={dynamics.d}) is not time-conditioned; a CNF needs "
                             f"f(z, t): build it with HollowNet(d, time=True) or hollow_dynamics(d)")
    declared = getattr(dynamics, "context_features", None)
    if isinstance(declared, int) and declared != context_features:
        raise ValueError(f"{owner}: the {type(dynamics).__name__} takes context_features={declared}, "
                         f"the CNF was given context_features={context_features}; make them equal")
    if isinstance(dynamics, HollowNet):
        return
    needed = 3 if context_features else 2
    if _positional_arity(dynamics) < needed:
        signature = "f(z, t, context)" if context_features else "f(z, t)"
        raise ValueError(f"{owner}: dynamics {type(dynamics).__name__} is not time-conditioned: its forward "
                         f"takes {inspect.signature(dynamics.forward)}, a CNF calls it as {signature}; use "
                         f"hollow_dynamics(d) or TimeConditionedMLP(d), or add the argument")


class BoundDynamics(nn.Module):
    """A generic dynamics with t and the context fixed: z (B, d) → (B, d)."""

    def __init__(self, dynamics: nn.Module, t: Tensor, context: Tensor | None):
        super().__init__()
        self.dynamics, self.t, self.context = dynamics, t, context
        self.in_features = self.out_features = dimension_of(dynamics)

    def forward(self, z: Tensor) -> Tensor:
        if self.context is None:
            return self.dynamics(z, self.t)
        return self.dynamics(z, self.t, self.context)


def bind(dynamics: nn.Module, t: Tensor, context: Tensor | None) -> nn.Module:
    """f(·, t, context) as a module of z alone; a HollowNet stays one for ``hp.divergence``."""
    if isinstance(dynamics, HollowNet):
        return dynamics.bind(t=t, context=context)
    return BoundDynamics(dynamics, t, context)
