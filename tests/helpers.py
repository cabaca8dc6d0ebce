"""Shared test helpers: reference models and relative-error assertions."""
from __future__ import annotations

import torch
from torch import Tensor, nn

import hodphys as hp
from hodphys.metrics import relative_error


def assert_close_rel(actual: Tensor, expected: Tensor, tol: float) -> None:
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    err = relative_error(actual, expected)
    assert err <= tol, f"relative error {err:.3g} > {tol:.1g}"


TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4}


def mlp(d: int, widths: list[int], m: int, activation=nn.Tanh, seed: int = 0,
        dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """d → widths → m with an activation after every hidden layer."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    sizes = [d, *widths]
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation()]
    layers.append(nn.Linear(sizes[-1], m))
    return nn.Sequential(*layers).to(dtype)


def mixed_net(d: int, m: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """A net touching every supported layer type: activations, residual blocks, nesting."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(d, 12), nn.Tanh(),
        hp.nn.ResidualBlock(12, nn.Softplus(beta=2.0), step=0.5),
        nn.Sequential(nn.Linear(12, 10), nn.SiLU()),
        nn.Linear(10, 10), nn.ELU(alpha=0.7),
        nn.Linear(10, 9), hp.nn.Sin(),
        hp.nn.ResidualBlock(9, nn.Sigmoid()),
        nn.Linear(9, m), nn.Identity(),
    ).to(dtype)


# A few-second configuration of the 8-output Poisson problem (problems/poisson_pinn.py).
TINY_POISSON = ["outputs=2", "widths=[16, 16]", "n_interior=128", "n_boundary=64", "adam_steps=60",
                "optimizer_steps=60", "lbfgs_chunk=10", "checkpoint_every=20", "log_every=5",
                "eval_every=20", "grid_size=21", "threads=1", "plots=false"]
