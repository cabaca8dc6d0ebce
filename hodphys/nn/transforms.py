"""Input and output transforms of PINN networks that every derivative engine handles.

* :class:`FourierFeatures` — z = [sin(Bx), cos(Bx)] with B (F, d): written as one linear map [B; B]
  with bias [0; π/2] followed by sin (cos θ = sin(θ + π/2)), so it is an ``nn.Sequential`` of layers
  every engine has rules for (exact in each, no fallback); fixed, or trainable.
* :func:`affine_input` — x ↦ 2(x − low)/(high − low) − 1, a frozen ``nn.Linear`` (the box to [−1, 1]^d).
* :class:`HardConstraint` — u = g(x) + ℓ(x)·N(x) (Dirichlet data g, ℓ = 0 on that boundary): every
  ``hp.*`` quantity and ``hp.partials`` take N's derivatives from any engine and combine them with
  g's and ℓ's (exact, by torch.func) by the product rule (:mod:`hodphys.engines.constrained`).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from hodphys.nn.activations import Sin


class FourierFeatures(nn.Sequential):
    """x (N, d) → [sin(Bx), cos(Bx)] (N, 2F), B ~ N(0, scale²) drawn from ``generator``.

    ``trainable=False`` (default) freezes B; ``trainable=True`` trains the map: the sin and cos rows
    (and their phases 0, π/2) then move independently, [sin(B₁x + c₁), sin(B₂x + c₂)].
    """

    def __init__(self, in_features: int, features: int, scale: float = 1.0,
                 generator: torch.Generator | None = None, trainable: bool = False):
        if in_features < 1 or features < 1 or not scale > 0:
            raise ValueError(f"FourierFeatures: expected in_features ≥ 1, features ≥ 1 and scale > 0, got "
                             f"{in_features}, {features}, {scale}")
        b = scale * torch.randn(features, in_features, generator=generator)
        linear = nn.Linear(in_features, 2 * features)
        with torch.no_grad():
            linear.weight.copy_(torch.cat([b, b]))
            linear.bias.copy_(torch.cat([torch.zeros(features), torch.full((features,), math.pi / 2)]))
        super().__init__(linear.requires_grad_(trainable), Sin())

    @property
    def out_features(self) -> int:
        return self[0].out_features


def affine_input(low: Tensor, high: Tensor) -> nn.Linear:
    """A frozen nn.Linear x ↦ 2(x − low)/(high − low) − 1 mapping the box [low, high] (each (d,)) to [−1, 1]^d."""
    dtype = torch.get_default_dtype()
    low, high = torch.as_tensor(low, dtype=dtype), torch.as_tensor(high, dtype=dtype)
    if low.ndim != 1 or low.shape != high.shape or not bool((high > low).all()):
        raise ValueError(f"affine_input: expected low < high of one shape (d,), got low {low.tolist()}, "
                         f"high {high.tolist()}")
    affine = nn.Linear(low.shape[0], low.shape[0])
    with torch.no_grad():
        affine.weight.copy_(torch.diag(2 / (high - low)))
        affine.bias.copy_(-(high + low) / (high - low))
    return affine.requires_grad_(False)


class HardConstraint(nn.Module):
    """u = g(x) + ℓ(x)·N(x) for a network N (N, d) → (N, m).

    g, ℓ: functions of x (N, d) returning (N, 1), (N, m) or a float; ℓ vanishes where u = g is
    imposed (e.g. ℓ = x(1 − x) for u(0) = g(0), u(1) = g(1)).
    """

    def __init__(self, net: nn.Module, offset: Callable[[Tensor], Tensor | float],
                 factor: Callable[[Tensor], Tensor | float]):
        super().__init__()
        self.net, self.offset, self.factor = net, offset, factor
        self.out_features = getattr(net, "out_features", None) or _last_width(net)

    def broadcast(self, value: Tensor | float, x: Tensor) -> Tensor:
        """g(x) or ℓ(x) as (N, m)."""
        value = torch.as_tensor(value, dtype=x.dtype, device=x.device)
        if value.ndim == 2 and value.shape[0] == x.shape[0] and value.shape[1] in (1, self.out_features):
            return value.expand(x.shape[0], self.out_features)
        if value.ndim == 0:
            return value.expand(x.shape[0], self.out_features)
        raise ValueError(f"HardConstraint: g(x) and ℓ(x) must return a float or a tensor of shape (N, 1) or "
                         f"(N, m) = ({x.shape[0]}, {self.out_features}), got shape {tuple(value.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        return self.broadcast(self.offset(x), x) + self.broadcast(self.factor(x), x) * self.net(x)


def _last_width(net: nn.Module) -> int:
    widths = [m.out_features for m in net.modules() if isinstance(getattr(m, "out_features", None), int)]
    if not widths:
        raise ValueError("HardConstraint: cannot tell the network's number of outputs; give it an out_features")
    return widths[-1]
