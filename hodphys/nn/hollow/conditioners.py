"""HollowNet conditioners: h_i = c_i(x_{−i}), built so that x_i never enters the computation of h_i.

A conditioner maps x (*B, d) and optional per-sample extras s (*B, q) to h (*B, d, c); because
x_i is not on any path to h_i, ∂h_i/∂x_i is exactly 0 in every autograd mode, in float32 too.

* :class:`LeaveOneOutConditioner` (default, O(d) per sample): h_i = ρ_i(mean_{j≠i} φ_j(x_j), s),
  with the leave-one-out sums formed from exclusive prefix and suffix sums (never "total − own",
  whose rounding would leak x_i).
* :class:`MaskedConditioner` (the HollowNets paper's block-masked MLP, O(d²) per sample): hidden
  block i sees x through weights whose column i is masked to 0, later layers are block-diagonal.

A custom conditioner is any module with this forward signature and a ``features`` attribute (c);
check it with :func:`hodphys.engines.hollow.check_hollow`.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from hodphys.nn.hollow.dimensionwise import BlockLinear, DimensionwiseMLP


def leave_one_out_mean(u: Tensor) -> Tensor:
    """z_i = mean_{j≠i} u_j along dimension −2, computed without reading u_i.

    z_i = (Σ_{j<i} u_j + Σ_{j>i} u_j)/(d − 1) from exclusive prefix/suffix sums; z = 0 when d = 1.
    Shapes: u (*B, d, w) → (*B, d, w).
    """
    zero = torch.zeros_like(u[..., :1, :])
    before = torch.cat([zero, u[..., :-1, :].cumsum(-2)], dim=-2)
    after = torch.cat([u[..., 1:, :].flip(-2).cumsum(-2).flip(-2), zero], dim=-2)
    return (before + after) / max(u.shape[-2] - 1, 1)


class LeaveOneOutConditioner(nn.Module):
    """h_i = ρ_i(mean_{j≠i} φ_j(x_j), s): a DeepSets-style encoder/decoder with the sum leaving x_i out.

    φ and ρ are :class:`DimensionwiseMLP` s (shared weights, per-dimension embeddings, so the
    encoding still knows which dimension each x_j is). Cost per sample O(d·w²).
    Shapes: x (*B, d), s (*B, q) or None → (*B, d, c) with c = ``features``.
    """

    def __init__(self, d: int, features: int, width: int, depth: int, activation: nn.Module,
                 extra_features: int = 0):
        super().__init__()
        self.d, self.features = d, features
        self.encoder = DimensionwiseMLP(d, 1, width, width, depth, activation)
        self.decoder = DimensionwiseMLP(d, width, width, features, depth, activation, extra_features)

    def forward(self, x: Tensor, extra: Tensor | None = None) -> Tensor:
        pooled = leave_one_out_mean(self.encoder(x.unsqueeze(-1)))
        return self.decoder(pooled, extra)


class MaskedConditioner(nn.Module):
    """The block-masked (MADE-style) conditioner of the HollowNets paper.

    a¹_i = σ(W¹_i (m_i ⊙ x) + b¹_i + V s) with m_i = 1 − e_i, then block-diagonal layers
    aˡ_i = σ(Wˡ_i aˡ⁻¹_i + bˡ_i) and h_i = W^o_i a_i + b^o_i. Every block has its own weights.
    Cost per sample d²·w + (depth − 1)·d·w² + d·w·c.
    Shapes: x (*B, d), s (*B, q) or None → (*B, d, c) with c = ``features``.
    """

    def __init__(self, d: int, features: int, width: int, depth: int, activation: nn.Module,
                 extra_features: int = 0):
        super().__init__()
        self.d, self.features, self.width = d, features, width
        bound = 1.0 / math.sqrt(max(d - 1, 1))
        self.first_weight = nn.Parameter(torch.empty(d * width, d).uniform_(-bound, bound))
        self.first_bias = nn.Parameter(torch.empty(d, width).uniform_(-bound, bound))
        # row (i, a) of the first weight must not see x_i: zero by multiplication, so exactly 0
        self.register_buffer("mask", (1 - torch.eye(d)).repeat_interleave(width, dim=0))
        self.extra = nn.Linear(extra_features, width, bias=False) if extra_features else None
        self.hidden = nn.ModuleList(BlockLinear(d, width, width) for _ in range(depth - 1))
        self.last = BlockLinear(d, width, features)
        self.activation = activation

    def forward(self, x: Tensor, extra: Tensor | None = None) -> Tensor:
        z = nn.functional.linear(x, self.first_weight * self.mask)
        z = z.unflatten(-1, (self.d, self.width)) + self.first_bias
        if self.extra is not None:
            z = z + self.extra(extra).unsqueeze(-2)
        a = self.activation(z)
        for layer in self.hidden:
            a = self.activation(layer(a))
        return self.last(a)
