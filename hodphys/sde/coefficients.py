"""Drift and diffusion of dx = f(x, t) dt + diag(g(x, t)) dW as modules, and their dimension-wise
derivatives — the only derivatives of f and g the Fokker–Planck equation needs.

    D_dim^k f = [∂^k f_i/∂x_i^k]_i       (hp.dim_derivative: k backward passes for a HollowNet,
                                          d of them per order for any other module)

A coefficient module maps x (N, d) → (N, d). It is *time-conditioned* when it has an attribute
``time = True`` (as ``HollowNet(d, time=True)``); it is then called ``module(x, t)`` with t (N,).
A time-conditioned HollowNet is bound per sample (``net.bind(t=t)``, the hollow engine); any other
time-conditioned module is differentiated as z = (x, t) ↦ (f(x, t), 0) by the generic engines.

Glossary: N points, d dimensions.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

import hodphys as hp
from hodphys.nn import HollowNet


class DimwiseTerms(NamedTuple):
    """A coefficient c and its dimension-wise derivatives: value c_i, first ∂_i c_i, second ∂_i² c_i (each (N, d))."""

    value: Tensor
    first: Tensor
    second: Tensor | None


class DiagonalDiffusion(nn.Module):
    """g(x, t) = softplus(raw(x, t)) + floor > 0: a diagonal diffusion that is positive by construction.

    raw is any coefficient module (a HollowNet keeps the one-pass path: the softplus is applied
    elementwise, so its dimension-wise derivatives follow from raw's by the chain rule).
    Shapes: x (N, d) → (N, d).
    """

    def __init__(self, raw: nn.Module, floor: float = 1e-3):
        super().__init__()
        if not floor > 0:
            raise ValueError(f"DiagonalDiffusion: expected floor > 0, got {floor!r}")
        self.raw, self.floor = raw, float(floor)
        self.time = bool(getattr(raw, "time", False))

    def forward(self, x: Tensor, t: Tensor | None = None) -> Tensor:
        return F.softplus(self.raw(x) if t is None else self.raw(x, t)) + self.floor

    def from_raw(self, raw: DimwiseTerms) -> DimwiseTerms:
        """(g, ∂g, ∂²g) from (r, ∂r, ∂²r): g = sp(r) + ε, g′ = σ(r) r′, g″ = σ(r)(1 − σ(r)) r′² + σ(r) r″."""
        sig = torch.sigmoid(raw.value)
        second = None if raw.second is None else sig * (1 - sig) * raw.first**2 + sig * raw.second
        return DimwiseTerms(F.softplus(raw.value) + self.floor, sig * raw.first, second)


class _TimeAsInput(nn.Module):
    """z = (x, t) ↦ (c(x, t), 0): a time-conditioned module as a module of z alone, (N, d+1) → (N, d+1)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, z: Tensor) -> Tensor:
        value = self.module(z[..., :-1], z[..., -1])
        return torch.cat([value, torch.zeros_like(value[..., :1])], dim=-1)


def is_time_conditioned(module: nn.Module) -> bool:
    return bool(getattr(module, "time", False))


def evaluate(module: nn.Module, x: Tensor, t: Tensor) -> Tensor:
    """c(x, t) (or c(x) for a module without time), (N, d) → (N, d)."""
    return module(x, t) if is_time_conditioned(module) else module(x)


def dimwise_terms(module: nn.Module, x: Tensor, t: Tensor, order: int = 2,
                  method: str = "auto") -> DimwiseTerms:
    """c, D_dim c and (order 2) D²_dim c of a coefficient module at (x, t), each (N, d).

    ``method`` is handed to ``hp.dim_derivative`` ("auto": the hollow engine for HollowNets;
    "autograd": the brute-force reference, d passes per order).
    """
    if isinstance(module, DiagonalDiffusion):
        return module.from_raw(dimwise_terms(module.raw, x, t, order, method))
    field, points, keep = module, x, slice(None)
    if is_time_conditioned(module):
        if isinstance(module, HollowNet):
            field = module.bind(t=t)
        else:
            field, points, keep = _TimeAsInput(module), torch.cat([x, t.unsqueeze(-1)], -1), slice(0, -1)
    value = evaluate(module, x, t)
    first = hp.dim_derivative(field, points, k=1, method=method)[..., keep]
    second = hp.dim_derivative(field, points, k=2, method=method)[..., keep] if order >= 2 else None
    return DimwiseTerms(value, first, second)


def squared_terms(g: DimwiseTerms) -> DimwiseTerms:
    """a = g² and its dimension-wise derivatives: a′ = 2 g g′, a″ = 2 (g′² + g g″)."""
    return DimwiseTerms(g.value**2, 2 * g.value * g.first, 2 * (g.first**2 + g.value * g.second))
