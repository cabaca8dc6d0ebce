"""Small CNFs shared by the flow tests (float64 unless a test says otherwise)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from hodphys.flows import hollow_dynamics


class LinearDynamics(nn.Module):
    """f(z, t) = (1 + t) A z, whose flow map is exact: z(T) = exp(A (T + T²/2)) z(0)."""

    def __init__(self, A: Tensor):
        super().__init__()
        self.A = nn.Parameter(A.clone())
        self.in_features = self.out_features = A.shape[0]

    def forward(self, z: Tensor, t: Tensor) -> Tensor:
        return (1 + t) * z @ self.A.T


def small_hollow(d: int = 3, context_features: int = 0, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return hollow_dynamics(d, context_features=context_features, hidden_features=4, width=16,
                           depth=2).double()


def points(n: int, d: int, seed: int = 1) -> Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
