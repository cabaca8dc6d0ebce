"""Network builders: plain ``nn.Sequential`` subclasses, so every engine walks them layer by layer.

* ``MLP([d, h1, …, m])``: Linear, σ, Linear, σ, …, Linear.
* ``ResNet(d, width, depth, m)``: Linear(d, width), σ₀, depth × ResidualBlock(width), Linear(width, m)
  (hessQuik's timing network is ``ResNet(d, 16, 4, m, step=0.5, opening_activation=LogCosh())``).
* ``ICNN(d, [w1, …, wk], rank)``: ICNN layers and a quadratic-ICNN output, convex in x.
"""
from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from hodphys.checks import check_integers
from hodphys.nn.compose import check_composition, leaf_layers
from hodphys.nn.icnn import ICNNLayer, QuadraticICNNLayer
from hodphys.nn.residual import ResidualBlock


def _positive(call: str, name: str, value: object) -> int:
    check_integers(call, 1, **{name: value})
    return value


def _widths(call: str, widths: Sequence[int], least: int) -> list[int]:
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or len(widths) < least:
        raise ValueError(f"{call}: expected widths to be a list of at least {least} positive integers, "
                         f"got {widths!r}")
    return [_positive(call, f"widths[{i}]", w) for i, w in enumerate(widths)]


class _Checked(nn.Sequential):
    def __init__(self, *layers: nn.Module):
        super().__init__(*layers)
        check_composition(leaf_layers(self))

    def __getitem__(self, idx: int | slice) -> nn.Module:
        """model[i] is a layer; model[a:b] a plain nn.Sequential (a builder's arguments would not fit)."""
        if isinstance(idx, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)


class MLP(_Checked):
    """Linear(w0, w1), σ, …, σ, Linear(w_{k−1}, w_k): (*B, w0) → (*B, w_k).

    Args:
        widths: [d, h1, …, m], at least two entries.
        activation: elementwise activation after every hidden layer (nn.Tanh() by default).
    """

    def __init__(self, widths: Sequence[int], activation: nn.Module | None = None):
        widths = _widths("MLP(widths)", widths, 2)
        activation = nn.Tanh() if activation is None else activation
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(copy.deepcopy(activation))
        super().__init__(*layers)


class ResNet(_Checked):
    """Linear(d, width), σ₀, depth × [u ↦ u + step·σ(K u + b)], Linear(width, m).

    Args:
        in_features: d.
        width: the hidden width.
        depth: the number of residual blocks (≥ 0).
        out_features: m.
        activation: σ of the residual blocks (nn.Tanh() by default).
        step: the residual step (hessQuik's h).
        opening_activation: σ₀ after the first linear map (``activation`` by default).
    """

    def __init__(self, in_features: int, width: int, depth: int, out_features: int,
                 activation: nn.Module | None = None, step: float = 1.0,
                 opening_activation: nn.Module | None = None):
        call = f"ResNet({in_features}, {width}, {depth}, {out_features})"
        for name, value in (("in_features", in_features), ("width", width), ("out_features", out_features)):
            _positive(call, name, value)
        check_integers(call, 0, depth=depth)
        if not isinstance(step, (int, float)) or not math.isfinite(step):
            raise ValueError(f"{call}: expected a finite float step, got {step!r}")
        activation = nn.Tanh() if activation is None else activation
        opening = copy.deepcopy(activation if opening_activation is None else opening_activation)
        blocks = [ResidualBlock(width, copy.deepcopy(activation), step) for _ in range(depth)]
        super().__init__(nn.Linear(in_features, width), opening, *blocks, nn.Linear(width, out_features))


class ICNN(_Checked):
    """Input-convex network: ICNN layers of the given widths and a quadratic-ICNN scalar output.

    x ↦ u₁ = σ(K₁x + b₁), u_{i+1} = σ(L⁺u_i + K x + b), f = (w⁺)ᵀu_k + vᵀx + ½‖A x‖² + μ;
    (*B, d) → (*B, 1), convex in x.

    Args:
        in_features: d.
        widths: [w1, …, wk] hidden widths, at least one.
        rank: r, the rank of A in the quadratic output.
        activation: convex, non-decreasing elementwise activation (nn.Softplus() by default).
    """

    def __init__(self, in_features: int, widths: Sequence[int], rank: int = 1,
                 activation: nn.Module | None = None):
        call = f"ICNN({in_features}, {widths!r})"
        _positive(call, "in_features", in_features)
        _positive(call, "rank", rank)
        widths = _widths(call, widths, 1)
        activation = nn.Softplus() if activation is None else activation
        previous = [None] + widths[:-1]
        layers = [ICNNLayer(in_features, a, b, copy.deepcopy(activation)) for a, b in zip(previous, widths)]
        super().__init__(*layers, QuadraticICNNLayer(in_features, widths[-1], rank))
