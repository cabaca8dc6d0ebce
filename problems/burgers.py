"""Viscous Burgers u_t + u u_x = ν u_xx on [−1, 1] × [0, 1], u(x, 0) = −sin πx, u(±1, t) = 0, ν = 0.01/π.

The reference is the Cole–Hopf solution on the usual 256 × 100 (x, t) grid, computed in code
(:func:`hodphys.pinn.references.burgers_table`). The residual reads u, u_x and the combination
u_t − ν u_xx in one hp.partials call (compiled, the forward jet carries the combination as one row).

    hodphys run burgers                      # rel. L2 ≤ 1e-2 (docs/pinn.md: measured numbers)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from hodphys.pinn import Dirichlet, Initial, PinnConfig, Problem
from hodphys.pinn.geometry import Interval, SpaceTime
from hodphys.pinn.references import burgers_table
from hodphys.train import solve
from hodphys.train.config import check_positive

NAME = "burgers"
DESCRIPTION = "viscous Burgers (nu = 0.01/pi) on [-1,1]x[0,1], Cole-Hopf reference"


@dataclass
class Config(PinnConfig):
    nu: float = 0.01 / math.pi
    widths: list[int] = field(default_factory=lambda: [32] * 4)
    n_interior: int = 2540
    n_boundary: int = 160
    adam_steps: int = 4000
    lr_final: float = 2e-4
    optimizer_steps: int = 3000
    finetune_points: int = 8000


def problem(config: Config) -> Problem:
    nu = config.nu
    return Problem(config, SpaceTime(Interval(-1, 1), 0, 1), inputs=["x", "t"], names=["u"],
                   pde=lambda f: f["diffusion"] + f["u"] * f["u_x"], needs=["u", "u_x"],
                   combos={"diffusion": {"u_t": 1.0, "u_xx": -nu}},
                   conditions=[Dirichlet(0.0), Initial(lambda x: -torch.sin(math.pi * x[:, :1]))],
                   reference=burgers_table(nu))


def check(config: Config) -> None:
    """Refuse a physical constant ≤ 0 (or not finite) before the run directory is made."""
    check_positive(config, "nu")


def main(config: Config, run) -> dict:
    return solve(problem(config), run)
