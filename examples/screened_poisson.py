"""A new PDE problem in a short script: screened Poisson −Δu + κ²u = q on [0, 1]², u = 0 on ∂Ω.

    u(x, y) = sin(πx) sin(πy),   q = (2π² + κ²) u

Run it like a built-in problem — a run directory with checkpoints, metrics, plots and VTU:

    hodphys run examples/screened_poisson.py
    hodphys run examples/screened_poisson.py --set kappa=4 --set dtype=float64
"""
import math
from dataclasses import dataclass, field

import torch

from hodphys.pinn.problem import Problem
from hodphys.train import TrainConfig, solve

NAME = "screened-poisson"
DESCRIPTION = "screened Poisson −Δu + κ²u = q on [0,1]², u = 0 on the boundary (example script)"


@dataclass
class Config(TrainConfig):          # every shared knob (optimizers, points, dtype …) plus ours
    kappa: float = 2.0
    widths: list[int] = field(default_factory=lambda: [48, 48, 48])
    adam_steps: int = 500
    optimizer_steps: int = 500


class ScreenedPoisson(Problem):
    def exact(self, x):             # (N, 2) → (N, 1); also the boundary data
        return torch.sin(math.pi * x[:, :1]) * torch.sin(math.pi * x[:, 1:])

    def residual(self, model, x):   # zero at the solution
        q = (2 * math.pi**2 + self.config.kappa**2) * self.exact(x)
        return -self.laplacian(model, x) + self.config.kappa**2 * model(x) - q


def main(config, run):
    return solve(ScreenedPoisson(config, bounds=[(0, 1), (0, 1)], outputs=1), run)
