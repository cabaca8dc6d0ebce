"""Activation modules that torch.nn lacks, each backed by an ElementwiseFunction (stateless), and
the one table of activations by name (configs say ``activation = "tanh"``)."""
from __future__ import annotations

from torch import nn

from hodphys import elementwise
from hodphys.elementwise import ElementwiseModule


class Sin(ElementwiseModule):
    """sin(x) elementwise (SIREN-style and periodic PINN networks)."""

    def __init__(self) -> None:
        super().__init__(elementwise.Sin())


class LogCosh(ElementwiseModule):
    """log cosh(x) elementwise (hessQuik's "antiTanh" up to the constant log 2); convex, f' = tanh."""

    def __init__(self) -> None:
        super().__init__(elementwise.LogCosh())


class Quadratic(ElementwiseModule):
    """x²/2 elementwise; convex, f' = x, f'' = 1."""

    def __init__(self) -> None:
        super().__init__(elementwise.Quadratic())


#: activation modules by the name a config gives them
ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "sin": Sin, "softplus": nn.Softplus, "silu": nn.SiLU,
                                           "sigmoid": nn.Sigmoid, "elu": nn.ELU}
