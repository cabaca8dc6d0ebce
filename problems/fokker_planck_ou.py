"""Fokker–Planck forward problem (verification): log p(x, t) of an Ornstein–Uhlenbeck process as a PINN.

    hodphys run fokker-planck-ou                      # d = 2, ≈ 1–2 min on 2 CPU cores
    hodphys run fokker-planck-ou --set dim=3 --set theta=[1.0] --set sigma=[0.7] --set mean0=[1.0] --set var0=[0.2]

Writes metrics.json (rel_l2_p_final: ‖p − p*‖/‖p*‖ at t = T against the closed form), plots/density.png
(exact / learned / |error| at t = 0, T/2, T), checkpoints. See hodphys.sde.forward and docs/sde.md.
"""
from __future__ import annotations

from dataclasses import dataclass

from hodphys.sde.forward import ForwardConfig, ForwardFokkerPlanck, forward_process
from hodphys.train import solve

NAME = "fokker-planck-ou"
DESCRIPTION = "Fokker–Planck PINN for log p of a 2-D OU process, checked against the closed form"


@dataclass
class Config(ForwardConfig):
    pass


def check(config: Config) -> None:
    """Refuse a bad config before the run directory is made."""
    forward_process(config)


def main(config: Config, run) -> dict:
    return solve(ForwardFokkerPlanck(config), run)
