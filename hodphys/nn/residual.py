"""Residual block u ↦ u + step·σ(K u + b) (hessQuik's resnetLayer, with step = its h)."""
from __future__ import annotations

import math

from torch import Tensor, nn

from hodphys.checks import check_integers
from hodphys.elementwise import elementwise_of
from hodphys.nn.access import child, parameter
from hodphys.nn.block import Branch, BranchBlock


class ResidualBlock(BranchBlock):
    """u ↦ u + step·σ(K u + b).

    Args:
        width: feature size w of u; K is (w, w).
        activation: an elementwise activation module (nn.Tanh() by default).
        step: the step size multiplying the branch.

    Shapes: u (*B, w) → (*B, w).
    """

    def __init__(self, width: int, activation: nn.Module | None = None, step: float = 1.0):
        check_integers("ResidualBlock", 1, width=width)
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step):
            raise ValueError(f"ResidualBlock(width={width}): expected a finite step, got {step!r}")
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.activation = nn.Tanh() if activation is None else activation  # checked by __setattr__
        self.step = float(step)

    def __setattr__(self, name: str, value) -> None:
        if name == "activation" and elementwise_of(value) is None:  # at construction and later
            width = self.linear.in_features
            raise ValueError(
                f"ResidualBlock(width={width}): activation must be an elementwise activation "
                f"(nn.Tanh, nn.Softplus, hodphys.nn.Sin, …), got {value!r}"
            )
        super().__setattr__(name, value)

    @property
    def in_features(self) -> int:
        return self.linear.in_features

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    def branch(self) -> Branch:
        """S = I, Q = step·I, K and b of the inner linear map."""
        linear = child(self, "linear")
        return Branch(1.0, None, parameter(linear, "weight"), parameter(linear, "bias"),
                      elementwise_of(child(self, "activation")), self.step)

    def forward(self, u: Tensor) -> Tensor:
        return u + self.step * self.activation(self.linear(u))

    def extra_repr(self) -> str:
        return f"step={self.step}"
