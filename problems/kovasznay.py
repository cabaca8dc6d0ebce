"""Kovasznay flow (Re = 20): steady Navier–Stokes on [−0.5, 1] × [−0.5, 1.5], analytic reference.

    u = 1 − e^{λx} cos 2πy,  v = λ/(2π) e^{λx} sin 2πy,  p = (1 − e^{2λx})/2,
    λ = 1/(2ν) − √(1/(4ν²) + 4π²),  ν = 1/Re.

Velocity is imposed on the whole boundary, the pressure only on the outflow x = 1 (part
"right"): per-output conditions. One hp.partials call gives u, v, p, their gradients and Δu, Δv.

    hodphys run kovasznay
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from hodphys.pinn import Dirichlet, PinnConfig, Problem
from hodphys.pinn.geometry import Box
from hodphys.train import solve
from hodphys.train.config import check_positive

NAME = "kovasznay"
DESCRIPTION = "Kovasznay flow, steady Navier-Stokes at Re = 20 (u, v, p), analytic reference"


@dataclass
class Config(PinnConfig):
    reynolds: float = 20.0
    widths: list[int] = field(default_factory=lambda: [50] * 4)
    n_interior: int = 2601
    n_boundary: int = 400
    adam_steps: int = 2000
    optimizer_steps: int = 1500


def exact(x: torch.Tensor, re: float) -> torch.Tensor:
    nu = 1 / re
    lam = 1 / (2 * nu) - math.sqrt(1 / (4 * nu**2) + 4 * math.pi**2)
    e, y = torch.exp(lam * x[:, :1]), 2 * math.pi * x[:, 1:]
    return torch.cat([1 - e * torch.cos(y), lam / (2 * math.pi) * e * torch.sin(y), (1 - e * e) / 2], -1)


def navier_stokes(f: dict, nu: float) -> torch.Tensor:
    u, v = f["u"], f["v"]
    return torch.cat([u * f["u_x"] + v * f["u_y"] + f["p_x"] - nu * f["lap(u)"],
                      u * f["v_x"] + v * f["v_y"] + f["p_y"] - nu * f["lap(v)"], f["u_x"] + f["v_y"]], -1)


def problem(config: Config) -> Problem:
    solution = lambda x: exact(x, config.reynolds)  # noqa: E731
    return Problem(config, Box([-0.5, -0.5], [1.0, 1.5]), outputs=3, names=["u", "v", "p"],
                   pde=lambda f: navier_stokes(f, 1 / config.reynolds), exact=solution,
                   needs=["u", "v", "u_x", "u_y", "v_x", "v_y", "p_x", "p_y", "lap(u)", "lap(v)"],
                   conditions=[Dirichlet(lambda x: solution(x)[:, :2], components=["u", "v"], name="velocity"),
                               Dirichlet(lambda x: solution(x)[:, 2:], on="right", components=["p"],
                                         name="outflow_pressure")])


def check(config: Config) -> None:
    """Refuse a physical constant ≤ 0 (or not finite) before the run directory is made."""
    check_positive(config, "reynolds")


def main(config: Config, run) -> dict:
    return solve(problem(config), run)
