"""Backward-mode state of the analytic engine: adjoints of a :class:`~hodphys.engines.analytic.jet.Jet`'s rows.

An :class:`Adjoint` holds ``rows`` (S, K, N, w) (N may be 1 while the adjoint is still the
same for every sample): for S seeds (S output contractions), the
gradient of the seeded output with respect to each row of the forward jet at a layer. Two
kinds are used:

* K = 1 (value row only): ordinary reverse mode, ḡ_z = σ′(z) ⊙ ḡ_a. It can also *collect the
  curvature sites*: at each σ it hands (Dz, σ″(z) ⊙ ḡ_a) to ``sites`` (anything with an
  ``append``, e.g. :class:`hodphys.engines.analytic.sweep.Curvature`), from which the Hessian is the sum
  H = Σ_sites Dzᵀ diag(σ″ ⊙ ḡ) Dz and the Laplacian Σ_sites Σ_w σ″ ḡ ‖Dz_w‖² — no
  (N, w, w, ·) or (N, d, d, w) tensor is ever formed.
* K = all rows of a directional jet (P ≤ 2 tangents, at most one pair, no triples): the exact reverse of
  the jet's forward map, so ∇ₓ of a tangent or second row is wᵀ∇²f·v (hvp) or wᵀ∇³f[v₁, v₂, ·].
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from hodphys.engines.analytic.jet import Jet
from hodphys.elementwise import ElementwiseFunction
from hodphys.scalars import scalar


def _times(a: Tensor, b: Tensor, scale: float) -> Tensor:
    """scale·a·b in one op."""
    if scale == 1.0:
        return a * b
    zero = scalar(0.0, b)
    return torch.addcmul(zero, a, b, value=scale) if isinstance(zero, Tensor) else a * b * scale


class Adjoint:
    """rows (S, K, N, w); ``sites`` receives the curvature sites (``sites.append``), or None."""

    __slots__ = ("rows", "sites")

    def __init__(self, rows: Tensor, sites: Any = None):
        self.rows, self.sites = rows, sites

    def _like(self, rows: Tensor) -> Adjoint:
        return Adjoint(rows, self.sites)

    def transposed_linear(self, weight: Tensor) -> Adjoint:
        """ḡ ↦ weightᵀ·ḡ per row (the adjoint of u ↦ W u), one matmul with no transposed view."""
        return self._like(torch.matmul(self.rows, weight))

    def scale(self, c: float) -> Adjoint:
        return self._like(self.rows * scalar(c, self.rows))

    def add(self, other: Adjoint, alpha: float = 1.0) -> Adjoint:
        """self + alpha·other, adjoints of one state; extra rows on one side belong to second rows
        that are still zero on the state (see Jet.add) and are dropped."""
        a, b = self.rows, other.rows
        if a.shape[1] != b.shape[1]:
            k = min(a.shape[1], b.shape[1])
            a, b = a[:, :k], b[:, :k]
        return self._like(torch.add(a, b, alpha=alpha))

    def through_elementwise(self, fn: ElementwiseFunction, z: Jet, scale: float = 1.0) -> Adjoint:
        """The adjoint of a ↦ σ(z) on the jet rows, evaluated at the saved input jet z, for the
        adjoint scale·ḡ_a (a scalar step folded into the products)."""
        if self.rows.shape[1] == 1:
            return self._value_only(fn, z, scale)
        return (self if scale == 1.0 else self.scale(scale))._directional(fn, z)

    def _value_only(self, fn: ElementwiseFunction, z: Jet, scale: float) -> Adjoint:
        """σ′ ⊙ ḡ on the one row; a site's weights σ″ ⊙ ḡ stay (S, 1, N, w) (no select, no unsqueeze)."""
        collect = self.sites is not None and z.n_tangents > 0
        f = z.sigma(fn, 2 if collect else 1)  # (N, w): broadcast over S and the row axis
        g = self.rows  # (S, 1, N, w)
        if collect:
            self.sites.append((z.tangents, _times(f[2], g, scale)))
        return self._like(_times(f[1], g, scale))

    def _directional(self, fn: ElementwiseFunction, z: Jet) -> Adjoint:
        """Reverse of (z, t, s) ↦ (σ, σ′t, σ′s + σ″ t_a t_b):
        ḡ_z = σ′ḡ_σ + σ″ Σ_p t_p ḡ_p + Σ_r (σ‴ t_a t_b + σ″ s_r) ḡ_r,
        ḡ_t = σ′ḡ_t + σ″ ḡ_r t_b (into a) + σ″ ḡ_r t_a (into b), ḡ_s = σ′ḡ_s."""
        p, g = z.n_tangents, self.rows  # g (S, K, N, w)
        second = g.shape[1] > 1 + p
        f = z.sigma(fn, 3 if second else 2)  # each (N, w)
        t = z.tangents.unsqueeze(0)  # (1, P, N, w)
        g_z = f[1] * g[:, 0] + f[2] * (t * g[:, 1:1 + p]).sum(1)
        rest = f[1] * g[:, 1:(None if z.has_second else 1 + p)]
        if second:
            a, b = z.pairs
            g_s = g[:, 1 + p:]
            curvature = f[3] * z.products()
            if z.has_second:
                curvature = curvature + f[2] * z.second
            g_z = g_z + (curvature * g_s).sum(1)
            g_s = f[2] * g_s
            rest[:, :p].index_add_(1, a, g_s * t[:, b])
            rest[:, :p].index_add_(1, b, g_s * t[:, a])
        return self._like(torch.cat([g_z.unsqueeze(1), rest], 1))
