"""HoD-Net's 8-output Poisson PINN (the paper's Fig. 7): Δφ_k = f_k on [0, 1]², k = 1 … 8.

    f_k = −2k² sin(kx₁) sin(kx₂) − k² x₁² cos(kx₁x₂) − k² x₂² cos(kx₁x₂)
    φ_k = sin(kx₁) sin(kx₂) + cos(kx₁x₂)      (exact; on ∂Ω it gives the paper's Dirichlet data:
          φ_k(0, x₂) = φ_k(x₁, 0) = 1, φ_k(1, x₂) = sin k sin kx₂ + cos kx₂, and symmetrically)

One network 2 → 100×5 → 8 (tanh) predicts all eight φ_k; the loss takes the Laplacian of all
eight outputs in one call (hp.laplacian, method "auto"). Residual k is divided by k² so each
output weighs alike (f_k grows like k²).

    hodphys run poisson                                       # ≤ 5 min on 2 CPU cores
    hodphys run poisson --set dtype=float64 --set optimizer_steps=6000   # the accurate setting
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hodphys.pinn.problem import Problem
from hodphys.train import TrainConfig, solve

NAME = "poisson"
DESCRIPTION = "HoD-Net 8-output Poisson on [0,1]^2 (2->100x5->8 tanh), Adam -> L-BFGS"


@dataclass
class Config(TrainConfig):
    outputs: int = 8  # φ_1 … φ_outputs
    normalize: bool = True  # divide residual k by k²
    adam_steps: int = 1000
    optimizer_steps: int = 1000


class MultiPoisson(Problem):
    """Δφ_k = f_k on [0, 1]² with Dirichlet data from the exact φ_k, k = 1 … outputs."""

    def __init__(self, config: Config):
        if config.outputs < 1:
            raise ValueError(f"config key 'outputs': expected an integer ≥ 1, got {config.outputs}")
        super().__init__(config, bounds=[(0.0, 1.0)] * 2, outputs=config.outputs,
                         names=[f"phi{k}" for k in range(1, config.outputs + 1)])

    def _k(self, x: Tensor) -> Tensor:
        return torch.arange(1, self.outputs + 1, dtype=x.dtype, device=x.device)

    def exact(self, x: Tensor) -> Tensor:
        k, x1, x2 = self._k(x), x[:, :1], x[:, 1:]
        return torch.sin(k * x1) * torch.sin(k * x2) + torch.cos(k * x1 * x2)

    def source(self, x: Tensor) -> Tensor:
        k, x1, x2 = self._k(x), x[:, :1], x[:, 1:]
        return -k**2 * (2 * torch.sin(k * x1) * torch.sin(k * x2) + (x1**2 + x2**2) * torch.cos(k * x1 * x2))

    def residual(self, model: nn.Module, x: Tensor) -> Tensor:
        residual = self.laplacian(model, x) - self.source(x)
        return residual / self._k(x) ** 2 if self.config.normalize else residual


def check(config: Config) -> None:
    """Refuse a bad config before the run directory is made: the constructor checks every value."""
    MultiPoisson(config)


def main(config: Config, run) -> dict:
    return solve(MultiPoisson(config), run)
