"""What the Fokker–Planck residual needs of a density model: the value, ∂_t, ∇_x and diag ∇²_x.

A density model is a module of z = (x, t), (N, d+1) → (N, 1), giving s = log p(x, t) (log form)
or p(x, t) itself (plain form). Its derivatives come from one ``hp.derivatives`` call on z
(Jacobian and Hessian of a scalar: the engine "auto" picks; d + 1 tangents for the Hessian).

Glossary: N points, d dimensions.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

import hodphys as hp


class DensityTerms(NamedTuple):
    """u and its derivatives at N points: value (N,), time (∂_t u, (N,)), gradient (∇_x u, (N, d)),
    hessian_diagonal ([∂²u/∂x_i²]_i, (N, d)); u = log p (log form) or p (plain form)."""

    value: Tensor
    time: Tensor
    gradient: Tensor
    hessian_diagonal: Tensor


def space_time(x: Tensor, t: Tensor) -> Tensor:
    """z = (x, t): x (N, d), t (N,) → (N, d+1)."""
    return torch.cat([x, t.unsqueeze(-1).to(x)], dim=-1)


def density_terms(model: nn.Module, x: Tensor, t: Tensor, method: str = "auto") -> DensityTerms:
    """Value, ∂_t, ∇_x and diag ∇²_x of a density model z = (x, t) ↦ u (one ``hp.derivatives`` call).

    Shapes: x (N, d), t (N,) → :class:`DensityTerms`. Differentiable in the model's parameters.
    """
    z = space_time(x, t)
    out = hp.derivatives(model, z, jacobian=True, laplacian=False, hessian=True, method=method)
    d = x.shape[-1]
    jacobian, hessian = out.jacobian[:, 0], out.hessian[:, 0]
    return DensityTerms(out.value[:, 0], jacobian[:, d], jacobian[:, :d],
                        torch.diagonal(hessian, dim1=-2, dim2=-1)[:, :d])


def plain_terms(log_terms: DensityTerms) -> DensityTerms:
    """Terms of p = e^s from those of s: ∂_t p = p ∂_t s, ∇p = p ∇s, ∂_i² p = p (∂_i² s + (∂_i s)²)."""
    p = log_terms.value.exp()
    grad = log_terms.gradient
    return DensityTerms(p, p * log_terms.time, p.unsqueeze(-1) * grad,
                        p.unsqueeze(-1) * (log_terms.hessian_diagonal + grad**2))
