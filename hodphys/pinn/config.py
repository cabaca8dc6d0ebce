"""The knobs PINN problems add to the shared training ones."""
from __future__ import annotations

from dataclasses import dataclass

from hodphys.pinn.geometry import METHODS
from hodphys.train import TrainConfig


@dataclass
class PinnConfig(TrainConfig):
    """:class:`TrainConfig` plus ``sampling``: "uniform" (random), "sobol" or "halton" (scipy.stats.qmc)."""

    sampling: str = "uniform"

    def __post_init__(self) -> None:
        if self.sampling not in METHODS:
            raise ValueError(f"config key 'sampling': expected one of {list(METHODS)}, got {self.sampling!r}")
