"""The networks a PINN problem trains: the MLP, the frozen output scaling, and the wrapper that
carries trainable PDE coefficients (so the Trainer optimises them and checkpoints save them)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hodphys.train.config import ACTIVATIONS


def mlp(d: int, widths: Sequence[int], m: int, activation: str = "tanh") -> nn.Sequential:
    """d → widths[0] → … → widths[-1] → m, the activation after every hidden layer."""
    layers: list[nn.Module] = []
    for a, b in zip([d, *widths[:-1]], widths):
        layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], m))


def normalizing_layer(values: Tensor) -> nn.Linear:
    """A frozen affine u = μ + σ ⊙ y from data values (n, m): mean and spread per output; a
    (nearly) constant output (u = 0 on ∂Ω, say) says nothing about the interior's scale: scale 1."""
    values = values.double()
    spread = values.std(0)
    flat = spread < 1e-3 * max(float(values.abs().max()), 1.0)
    shift, scale = values.mean(0), torch.where(flat, torch.ones_like(spread), spread)
    m = values.shape[1]
    affine = nn.Linear(m, m)
    with torch.no_grad():
        affine.weight.copy_(torch.diag(scale))
        affine.bias.copy_(shift)
    return affine.requires_grad_(False)


class PinnModel(nn.Module):
    """x ↦ net(x), plus ``coefficients`` (a ParameterDict of 0-d tensors) the PDE reads.

    Derivatives are taken of ``net`` (a plain network every engine handles); the coefficients
    train with it and are saved in its state_dict (hence in every checkpoint).
    """

    def __init__(self, net: nn.Module, coefficients: dict[str, float]):
        super().__init__()
        self.net = net
        self.coefficients = nn.ParameterDict({k: nn.Parameter(torch.tensor(float(v))) for k, v in coefficients.items()})

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
