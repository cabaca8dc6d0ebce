"""Wave u_tt = c² u_xx on [0, 1] × [0, 1], u = 0 at both ends, u(x, 0) = sin πx + ½ sin 2πx,
u_t(x, 0) = 0 (initial value and rate). Analytic reference
u = sin πx cos cπt + ½ sin 2πx cos 2cπt.

    hodphys run wave
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from hodphys.pinn import Dirichlet, Initial, PinnConfig, Problem
from hodphys.pinn.geometry import Interval, SpaceTime
from hodphys.train import solve
from hodphys.train.config import check_positive

NAME = "wave"
DESCRIPTION = "1-D wave equation (c = 1) with initial value and rate; analytic reference"


@dataclass
class Config(PinnConfig):
    c: float = 1.0
    widths: list[int] = field(default_factory=lambda: [50] * 3)
    n_interior: int = 2000
    n_boundary: int = 200
    adam_steps: int = 2000
    optimizer_steps: int = 1500


def problem(config: Config) -> Problem:
    c, pi = config.c, math.pi

    def exact(x: torch.Tensor) -> torch.Tensor:
        s, t = x[:, :1], x[:, 1:]
        return torch.sin(pi * s) * torch.cos(c * pi * t) + 0.5 * torch.sin(2 * pi * s) * torch.cos(2 * c * pi * t)

    return Problem(config, SpaceTime(Interval(0, 1), 0, 1), inputs=["x", "t"], exact=exact,
                   pde=lambda f: f["wave"], combos={"wave": {"u_tt": 1.0, "u_xx": -c**2}},
                   conditions=[Dirichlet(0.0), Initial(exact), Initial(0.0, derivative=1)])


def check(config: Config) -> None:
    """Refuse a physical constant ≤ 0 (or not finite) before the run directory is made."""
    check_positive(config, "c")


def main(config: Config, run) -> dict:
    return solve(problem(config), run)
