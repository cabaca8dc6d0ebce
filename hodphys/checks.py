"""Input checks shared across the package (bottom layer: imports nothing of hodphys)."""
from __future__ import annotations

from numbers import Integral
from typing import Any


def check_integers(call: str, minimum: int = 1, **values: Any) -> None:
    """ValueError naming the first of ``values`` that is not an integer ≥ ``minimum`` (a bool is not one).

        check_integers("MLP(widths)", 1, width=4, depth=0)
        # ValueError: MLP(widths): expected depth to be an integer ≥ 1, got 0
    """
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
            raise ValueError(f"{call}: expected {name} to be an integer ≥ {minimum}, got {value!r}")
