"""Fokker–Planck SDE fitting from population snapshots (HollowNets poster, "Learning Stochastic Diff Eqs").

Snapshots of a 2-D double well with rotational drift and state-dependent diagonal diffusion
(simulated with torchsde, never trajectories) → drift f (HollowNet), diffusion g > 0
(softplus ∘ HollowNet) and a time-conditioned density, by likelihood + Fokker–Planck residual.

    hodphys run fokker-planck                    # d = 2
    hodphys run fokker-planck --set dim=8
    hodphys run fokker-planck --resume runs/fokker-planck-…

Writes metrics.json (drift/diffusion relative L2 on the data's support; per time MMD of learned-SDE
samples vs held-out snapshots, and of two independent true sample sets; W2), plots/snapshots.png
(data, learned density, learned SDE samples per time), plots/drift.png (quiver, learned vs true),
plots/diffusion.png, checkpoints. See hodphys.sde.inverse and docs/sde.md.
"""
from __future__ import annotations

from dataclasses import dataclass

from hodphys.sde.inverse import InverseConfig, InverseFokkerPlanck
from hodphys.train import solve

NAME = "fokker-planck"
DESCRIPTION = "SDE drift + diffusion from snapshots by Fokker–Planck (HollowNet D_dim), 2-D double well"


@dataclass
class Config(InverseConfig):
    pass


def main(config: Config, run) -> dict:
    return solve(InverseFokkerPlanck(config), run)
