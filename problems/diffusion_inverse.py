"""Inverse diffusion: find κ in u_t = κ u_xx on [0, 1] × [0, 1] from 60 observations of u.

The data come from u = exp(−κ*π²t) sin πx with κ* = 0.1 (u = 0 at both ends, u(x, 0) = sin πx);
training starts from κ = 0.5. κ is a trainable coefficient: logged in metrics.jsonl, saved in the
checkpoints, written to metrics.json with its relative error.

    hodphys run diffusion-inverse
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from hodphys.checks import check_integers
from hodphys.pinn import Dirichlet, Initial, Observations, PinnConfig, Problem
from hodphys.pinn.geometry import Interval, SpaceTime
from hodphys.train import solve
from hodphys.train.config import check_positive

NAME = "diffusion-inverse"
DESCRIPTION = "recover the diffusivity kappa of u_t = kappa u_xx from 60 observations (kappa* = 0.1)"


@dataclass
class Config(PinnConfig):
    kappa_true: float = 0.1
    kappa_start: float = 0.5
    observations: int = 60
    widths: list[int] = field(default_factory=lambda: [32] * 3)
    n_interior: int = 1000
    n_boundary: int = 100
    adam_steps: int = 2000
    lr: float = 3e-3
    optimizer_steps: int = 500


def problem(config: Config) -> Problem:
    exact = lambda x: torch.exp(-config.kappa_true * math.pi**2 * x[:, 1:]) * torch.sin(math.pi * x[:, :1])  # noqa
    seen = torch.rand(config.observations, 2, generator=torch.Generator().manual_seed(config.seed + 17),
                      dtype=torch.float64)
    return Problem(config, SpaceTime(Interval(0, 1), 0, 1), inputs=["x", "t"], exact=exact,
                   coefficients={"kappa": config.kappa_start},
                   pde=lambda f: f["diffusion"], combos={"diffusion": {"u_t": 1.0, "u_xx": "-kappa"}},
                   conditions=[Dirichlet(0.0), Initial(exact), Observations(seen, exact(seen))])


def check(config: Config) -> None:
    """Refuse a diffusivity ≤ 0 or no observations before the run directory is made."""
    check_positive(config, "kappa_true", "kappa_start")
    check_integers("config key 'observations'", 1, value=config.observations)


def main(config: Config, run) -> dict:
    metrics = solve(problem(config), run)
    metrics["kappa_rel_error"] = abs(metrics["coefficient_kappa"] - config.kappa_true) / config.kappa_true
    return metrics
