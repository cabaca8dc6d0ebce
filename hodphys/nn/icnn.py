"""Input-convex layers (Amos, Xu & Kolter 2017, in hessQuik's form) and the quadratic output layers.

An ICNN carries the network input x along with the hidden features: a layer maps
[u, x] (*B, n_in + d) to [σ(L⁺u + Kx + b), x] (*B, n_out + d), with L⁺ = softplus(L) ≥ 0, so
the hidden features stay convex in x when σ is convex and non-decreasing (the first layer, which
sees x alone, only needs σ convex). The output layers map to a scalar (*B, 1):

* :class:`QuadraticLayer`: f(u) = vᵀu + ½‖A u‖² + μ;
* :class:`QuadraticICNNLayer`: f([u, x]) = (w⁺)ᵀu + vᵀx + ½‖A x‖² + μ (convex in x).

Each is a :class:`~hodphys.nn.block.BranchBlock`, so every engine differentiates it with its
one block rule. Glossary: d network input dim, n_in/n_out hidden features, r the rank of A.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hodphys.checks import check_integers
from hodphys import elementwise
from hodphys.elementwise import ElementwiseFunction, elementwise_of
from hodphys.nn.block import Branch, BranchBlock


def _uniform(shape: tuple[int, ...], fan_in: int) -> nn.Parameter:
    bound = 1 / math.sqrt(max(fan_in, 1))
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


def _check_positive(layer: str, **sizes: int | None) -> None:
    check_integers(layer, 1, **{name: size for name, size in sizes.items() if size is not None})


def convex_activation(layer: str, activation: nn.Module, nondecreasing: bool) -> ElementwiseFunction:
    """The elementwise function of ``activation``; ValueError unless it keeps the layer convex."""
    fn = elementwise_of(activation)
    need = "convex and non-decreasing" if nondecreasing else "convex"
    if fn is None or not fn.convex or (nondecreasing and not fn.nondecreasing):
        raise ValueError(
            f"{layer}: the activation must be {need} to keep the network convex in its input "
            f"(e.g. nn.Softplus()); got {activation!r}"
        )
    return fn


class ICNNLayer(BranchBlock):
    """[u, x] ↦ [σ(L⁺u + Kx + b), x]: (*B, n_in + d) → (*B, n_out + d); n_in = 0 for the first layer.

    Args:
        input_dim: d, the network input dimension.
        hidden_in: n_in, hidden features of the previous ICNN layer (None or 0 for the first).
        hidden_out: n_out.
        activation: convex (and, unless first, non-decreasing) elementwise activation.
    """

    def __init__(self, input_dim: int, hidden_in: int | None, hidden_out: int,
                 activation: nn.Module | None = None):
        super().__init__()
        name = f"ICNNLayer(input_dim={input_dim}, hidden_in={hidden_in}, hidden_out={hidden_out})"
        _check_positive(name, input_dim=input_dim, hidden_in=hidden_in or None, hidden_out=hidden_out)
        self.input_dim, self.hidden_in, self.hidden_out = input_dim, hidden_in or 0, hidden_out
        self._name = name  # for messages
        self.activation = nn.Softplus() if activation is None else activation  # checked by __setattr__
        fan_in = self.hidden_in + input_dim
        self.K = _uniform((hidden_out, input_dim), fan_in)
        self.L = _uniform((hidden_out, self.hidden_in), fan_in) if self.hidden_in else None
        self.b = _uniform((hidden_out,), fan_in)

    def __setattr__(self, name: str, value) -> None:
        if name == "activation":  # at construction and whenever it is replaced later
            convex_activation(self._name, value, nondecreasing=self.hidden_in > 0)
        super().__setattr__(name, value)

    @property
    def function(self) -> ElementwiseFunction:
        """σ of the current activation."""
        return elementwise_of(self.activation)

    @property
    def in_features(self) -> int:
        return self.hidden_in + self.input_dim

    @property
    def out_features(self) -> int:
        return self.hidden_out + self.input_dim

    def inner(self) -> Tensor:
        """[L⁺, K]: (n_out, n_in + d)."""
        return self.K if self.L is None else torch.cat([F.softplus(self.L), self.K], 1)

    def branch(self) -> Branch:
        """K = [L⁺, K]; Q places σ(z) first and S copies x last (0/1 selection matrices)."""
        eye = torch.eye(self.out_features, dtype=self.K.dtype, device=self.K.device)
        skip = F.pad(eye[:, self.hidden_out:], (self.hidden_in, 0))
        return Branch(skip, None, self.inner(), self.b, self.function, eye[:, :self.hidden_out])

    def forward(self, ux: Tensor) -> Tensor:
        z = F.linear(ux, self.inner(), self.b)
        return torch.cat([self.activation(z), ux[..., self.hidden_in:]], -1)

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, hidden_in={self.hidden_in}, hidden_out={self.hidden_out}"


class QuadraticLayer(BranchBlock):
    """u ↦ vᵀu + ½‖A u‖² + μ: (*B, n) → (*B, 1); an output layer (must come last)."""

    terminal = True

    def __init__(self, in_features: int, rank: int):
        super().__init__()
        _check_positive(f"QuadraticLayer(in_features={in_features}, rank={rank})",
                        in_features=in_features, rank=rank)
        self.in_features, self.rank, self.out_features = in_features, rank, 1
        self.v = _uniform((in_features,), in_features)
        self.A = _uniform((rank, in_features), in_features)
        self.mu = _uniform((1,), 1)

    def branch(self) -> Branch:
        ones = torch.ones(1, self.rank, dtype=self.A.dtype, device=self.A.device)
        return Branch(self.v.unsqueeze(0), self.mu, self.A, None, elementwise.Quadratic(), ones)

    def forward(self, u: Tensor) -> Tensor:
        quadratic = 0.5 * F.linear(u, self.A).square().sum(-1, keepdim=True)
        return F.linear(u, self.v.unsqueeze(0), self.mu) + quadratic

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, rank={self.rank}"


class QuadraticICNNLayer(BranchBlock):
    """[u, x] ↦ (w⁺)ᵀu + vᵀx + ½‖A x‖² + μ: (*B, n_in + d) → (*B, 1); convex in x, must come last."""

    terminal = True

    def __init__(self, input_dim: int, hidden_in: int | None, rank: int):
        super().__init__()
        _check_positive(f"QuadraticICNNLayer(input_dim={input_dim}, hidden_in={hidden_in}, rank={rank})",
                        input_dim=input_dim, hidden_in=hidden_in or None, rank=rank)
        self.input_dim, self.hidden_in, self.rank, self.out_features = input_dim, hidden_in or 0, rank, 1
        self.w = _uniform((self.hidden_in,), max(self.hidden_in, 1))
        self.v = _uniform((input_dim,), input_dim)
        self.A = _uniform((rank, input_dim), input_dim)
        self.mu = _uniform((1,), 1)

    @property
    def in_features(self) -> int:
        return self.hidden_in + self.input_dim

    def linear_weight(self) -> Tensor:
        """[w⁺, v]ᵀ: (1, n_in + d)."""
        return torch.cat([F.softplus(self.w), self.v]).unsqueeze(0)

    def branch(self) -> Branch:
        inner = F.pad(self.A, (self.hidden_in, 0))  # A acts on the x part only
        ones = torch.ones(1, self.rank, dtype=self.A.dtype, device=self.A.device)
        return Branch(self.linear_weight(), self.mu, inner, None, elementwise.Quadratic(), ones)

    def forward(self, ux: Tensor) -> Tensor:
        quadratic = 0.5 * F.linear(ux[..., self.hidden_in:], self.A).square().sum(-1, keepdim=True)
        return F.linear(ux, self.linear_weight(), self.mu) + quadratic

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, hidden_in={self.hidden_in}, rank={self.rank}"
