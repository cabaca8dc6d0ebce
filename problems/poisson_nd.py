"""Poisson in d dimensions (PINNacle's PNd): −Δu = (π²/4) Σᵢ sin(πxᵢ/2) on [0, 1]^d, Dirichlet data.

    u(x) = Σᵢ sin(πxᵢ/2)      (exact; also the boundary data)

The Laplacian of a d-input network is one hp.laplacian call whatever d is; the engine "auto"
picks scales with d. The network works at unit scale behind a frozen affine output layer fixed
from the boundary data (``normalize_outputs``): u has mean ≈ 2d/π and spread ≈ 0.31√d.

    hodphys run poisson-nd                     # d = 5
    hodphys run poisson-nd --set dim=100       # the high-dimensional case
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch import Tensor, nn

from hodphys.pinn.problem import Problem
from hodphys.train import TrainConfig, solve

NAME = "poisson-nd"
DESCRIPTION = "Poisson -Δu = (π²/4) Σ sin(πx_i/2) on [0,1]^d (PINNacle PNd), d = 5 by default"


@dataclass
class Config(TrainConfig):
    dim: int = 5
    widths: list[int] = field(default_factory=lambda: [64] * 4)
    normalize_outputs: bool = True
    normalize: bool = True  # divide the residual by π²/4: PDE and boundary terms both in units of u
    adam_steps: int = 1000
    optimizer_steps: int = 1000


class PoissonND(Problem):
    """−Δu = (π²/4) Σᵢ sin(πxᵢ/2) on [0, 1]^d with u = Σᵢ sin(πxᵢ/2) on the boundary."""

    def __init__(self, config: Config):
        if config.dim < 1:
            raise ValueError(f"config key 'dim': expected an integer ≥ 1, got {config.dim}")
        super().__init__(config, bounds=[(0.0, 1.0)] * config.dim, outputs=1, names=["u"])

    def exact(self, x: Tensor) -> Tensor:
        return (math.pi / 2 * x).sin().sum(-1, keepdim=True)

    def residual(self, model: nn.Module, x: Tensor) -> Tensor:
        residual = -self.laplacian(model, x) - math.pi**2 / 4 * self.exact(x)
        return residual / (math.pi**2 / 4) if self.config.normalize else residual


def check(config: Config) -> None:
    """Refuse a bad config before the run directory is made: the constructor checks every value."""
    PoissonND(config)


def main(config: Config, run) -> dict:
    return solve(PoissonND(config), run)
