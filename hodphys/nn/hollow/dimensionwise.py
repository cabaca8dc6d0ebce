"""Per-dimension building blocks of HollowNet: one MLP shared by all d dimensions, and block layers.

Glossary: B batch shape, d dimensions, p/o per-dimension input/output features, w width,
q per-sample extra features (time, context).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from hodphys.elementwise import elementwise_of


def check_activation(owner: str, activation: nn.Module) -> nn.Module:
    """Only smooth elementwise activations: D_dim^k of a ReLU network is silently 0 for k ≥ 2."""
    if elementwise_of(activation) is None:
        raise ValueError(
            f"{owner}: activation must be a smooth elementwise activation (nn.Softplus, nn.Tanh, "
            f"nn.SiLU, hodphys.nn.Sin, …), got {activation!r}"
        )
    return activation


def _uniform(shape: tuple[int, ...], fan_in: int) -> nn.Parameter:
    """nn.Linear's default initialisation U(−1/√fan_in, 1/√fan_in)."""
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class DimensionwiseMLP(nn.Module):
    """The same MLP applied to each dimension's features, told apart by a per-dimension embedding.

    y_i = W_out σ(… σ(W_in a_i + e_i + V s) …) + b_out  for i = 1..d, where e_i ∈ R^w is dimension
    i's learned embedding (the first layer's per-dimension bias) and s the per-sample extras.
    Row i of the output depends on row i of the input only.

    Shapes: a (*B, d, p), s (*B, q) or None → (*B, d, o).
    Cost per sample: d·(p·w + (depth − 1)·w² + w·o) multiply-adds; parameters do not grow with d
    except the d·w embedding.
    """

    def __init__(self, d: int, in_features: int, width: int, out_features: int, depth: int,
                 activation: nn.Module, extra_features: int = 0):
        super().__init__()
        self.first = nn.Linear(in_features, width, bias=False)
        self.embedding = _uniform((d, width), in_features)
        self.extra = nn.Linear(extra_features, width, bias=False) if extra_features else None
        self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
        self.last = nn.Linear(width, out_features)
        self.activation = activation

    def forward(self, a: Tensor, extra: Tensor | None = None) -> Tensor:
        z = self.first(a) + self.embedding
        if self.extra is not None:
            z = z + self.extra(extra).unsqueeze(-2)  # the same shift for every dimension
        z = self.activation(z)
        for layer in self.hidden:
            z = self.activation(layer(z))
        return self.last(z)


class BlockLinear(nn.Module):
    """d independent linear maps, one per dimension block: y_i = W_i a_i + b_i.

    Shapes: a (*B, d, p) → (*B, d, o); W is (d, o, p). Cost per sample d·p·o.
    """

    def __init__(self, d: int, in_features: int, out_features: int):
        super().__init__()
        self.weight = _uniform((d, out_features, in_features), in_features)
        self.bias = _uniform((d, out_features), in_features)

    def forward(self, a: Tensor) -> Tensor:
        return torch.einsum("...ip,iop->...io", a, self.weight) + self.bias
