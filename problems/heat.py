"""Heat u_t = κ u_xx on [0, 1] × [0, 1]: u = 0 at x = 0, an insulated end ∂u/∂x = 0 at x = 1
(Neumann), u(x, 0) = sin(πx/2). Analytic reference u = exp(−κπ²t/4) sin(πx/2).

    hodphys run heat
    hodphys run heat --set hard=true     # u = sin(πx/2) + x·t·N(x, t): u(0, t) = 0 and u(x, 0) exact
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from hodphys.pinn import Dirichlet, Initial, Neumann, PinnConfig, Problem
from hodphys.pinn.geometry import Interval, SpaceTime
from hodphys.train import solve
from hodphys.train.config import check_positive

NAME = "heat"
DESCRIPTION = "heat equation on [0,1]x[0,1], Dirichlet at x=0, insulated (Neumann) at x=1; analytic reference"


@dataclass
class Config(PinnConfig):
    kappa: float = 0.4
    widths: list[int] = field(default_factory=lambda: [32] * 3)
    n_interior: int = 1000
    n_boundary: int = 100
    adam_steps: int = 1500
    optimizer_steps: int = 500
    hard: bool = False  # impose u(0, t) = 0 and the initial value exactly (an output transform)


def problem(config: Config) -> Problem:
    k = config.kappa
    exact = lambda x: torch.exp(-k * math.pi**2 / 4 * x[:, 1:]) * torch.sin(math.pi / 2 * x[:, :1])  # noqa: E731
    soft = [Dirichlet(0.0, on="left"), Neumann(0.0, on="right"), Initial(exact)]
    hard = (lambda x: torch.sin(math.pi / 2 * x[:, :1]), lambda x: x[:, :1] * x[:, 1:])  # g, ℓ = x·t
    return Problem(config, SpaceTime(Interval(0, 1), 0, 1), inputs=["x", "t"], exact=exact,
                   pde=lambda f: f["heat"], combos={"heat": {"u_t": 1.0, "u_xx": -k}},
                   conditions=[Neumann(0.0, on="right")] if config.hard else soft,
                   output_transform=hard if config.hard else None)


def check(config: Config) -> None:
    """Refuse a physical constant ≤ 0 (or not finite) before the run directory is made."""
    check_positive(config, "kappa")


def main(config: Config, run) -> dict:
    return solve(problem(config), run)
