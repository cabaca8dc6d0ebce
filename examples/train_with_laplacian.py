"""Training with a derivative in the loss: fit Δu = f on the unit square (a tiny PINN).

The loss uses hp.laplacian; its gradient reaches the weights through the same module.

    python examples/train_with_laplacian.py [steps]
"""
import math
import sys

import torch
from torch import nn

import hodphys as hp

torch.manual_seed(0)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 500
model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
exact = lambda x: torch.sin(math.pi * x[:, :1]) * torch.sin(math.pi * x[:, 1:])   # u = 0 on ∂Ω
source = lambda x: -2 * math.pi ** 2 * exact(x)                                     # Δu = f

optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
for step in range(steps):
    inside = torch.rand(256, 2)
    edge = torch.rand(64, 2)
    edge[:, 0] = torch.where(torch.rand(64) < 0.5, edge[:, 0].round(), edge[:, 0])
    edge[:, 1] = torch.where(edge[:, 0] % 1 == 0, edge[:, 1], edge[:, 1].round())
    loss = (hp.laplacian(model, inside) - source(inside)).square().mean() + 10 * model(edge).square().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % max(steps // 5, 1) == 0 or step == steps - 1:
        print(f"step {step:4d}  loss {loss.item():.3e}")

grid = torch.rand(2000, 2)
error = (model(grid) - exact(grid)).norm() / exact(grid).norm()
print(f"relative L2 error {error.item():.3e}")
