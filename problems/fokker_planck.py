"""Fokker–Planck SDE fitting from population snapshots (HollowNets poster, "Learning Stochastic Diff Eqs").

Snapshots of a 2-D double well with rotational drift and state-dependent diagonal diffusion
(simulated with torchsde, never trajectories) → drift f (HollowNet), diffusion g > 0
(softplus ∘ HollowNet) and a time-conditioned density, by likelihood + Fokker–Planck residual.

    hodphys run fokker-planck                    # d = 2
    hodphys run fokker-planck --set dim=8
    hodphys run fokker-planck --set process=ornstein-uhlenbeck    # the second ground truth (Gaussian densities)
    hodphys run fokker-planck --resume runs/fokker-planck-…

Writes metrics.json (drift/diffusion relative L2 on the data's support; per time MMD of learned-SDE
samples vs held-out snapshots, and of two independent true sample sets; W2), plots/snapshots.png
(data, learned density, learned SDE samples per time), plots/drift.png (quiver, learned vs true),
plots/diffusion.png, checkpoints. See hodphys.sde.inverse and docs/sde.md.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from hodphys.sde.inverse import InverseConfig, InverseFokkerPlanck
from hodphys.sde.inverse_config import check_config
from hodphys.train import solve

NAME = "fokker-planck"
DESCRIPTION = "SDE drift + diffusion from snapshots by Fokker–Planck (HollowNet D_dim), 2-D double well"


@dataclass
class Config(InverseConfig):
    pass


def check(config: Config) -> None:
    """Refuse a bad config (names, sizes, times) before the run directory is made."""
    check_config(config)


def main(config: Config, run) -> dict:
    if config.threads:  # the data's simulation and the density's selection run before solve() sets it
        torch.set_num_threads(config.threads)
    return solve(InverseFokkerPlanck(config), run)
