"""Activation modules that torch.nn lacks, each backed by an ElementwiseFunction."""
from __future__ import annotations

from hodphys import elementwise
from hodphys.elementwise import ElementwiseModule


class Sin(ElementwiseModule):
    """sin(x) elementwise (SIREN-style and periodic PINN networks)."""

    def __init__(self) -> None:
        super().__init__(elementwise.Sin())
