"""Sample dx = f dt + diag(g) dW with torchsde (Itô, diagonal noise), batched, on any coefficient modules.

    paths = sample_paths(drift, diffusion, x0, times, method="srk", dt=1e-2, seed=0)   # (T, N, d)

The modules are those of :mod:`hodphys.sde.coefficients` (learned HollowNets, closed-form
processes, …); a time-conditioned one is called with t broadcast to (N,). No gradients are taken.
"""
from __future__ import annotations

import math

import torch
import torchsde
from torch import Tensor, nn

from hodphys.sde.coefficients import evaluate

METHODS = ("euler", "srk")  # Euler–Maruyama (strong order ½) and Rößler's SRK (strong order 1.5)


class ModuleSDE(nn.Module):
    """The torchsde view of (drift, diffusion): ``f(t, y)`` and ``g(t, y)``, y (N, d) → (N, d)."""

    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, drift: nn.Module, diffusion: nn.Module):
        super().__init__()
        self.drift, self.diffusion = drift, diffusion

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        return evaluate(self.drift, y, t.expand(y.shape[0]).to(y))

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        return evaluate(self.diffusion, y, t.expand(y.shape[0]).to(y))


def sample_paths(drift: nn.Module, diffusion: nn.Module, x0: Tensor, times: Tensor | list[float],
                 method: str = "srk", dt: float = 1e-2, seed: int = 0) -> Tensor:
    """x(t) at ``times`` for each of the N starting points x0 (N, d) → (T, N, d).

    times must be increasing; times[0] is the time of x0. ``seed`` fixes the Brownian motion.
    """
    if method not in METHODS:
        raise ValueError(f"sample_paths: expected method in {METHODS}, got {method!r}")
    times = torch.as_tensor(times, dtype=x0.dtype, device=x0.device)
    if times.ndim != 1 or times.numel() < 2 or not bool((times[1:] > times[:-1]).all()):
        raise ValueError(f"sample_paths: expected at least two increasing times, got {times.tolist()}")
    if x0.ndim != 2:
        raise ValueError(f"sample_paths: expected x0 of shape (N, d), got {tuple(x0.shape)}")
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"sample_paths: expected a positive step dt, got {dt!r}")
    brownian = torchsde.BrownianInterval(
        t0=float(times[0]), t1=float(times[-1]), size=tuple(x0.shape), dtype=x0.dtype, device=x0.device,
        entropy=seed, levy_area_approximation="space-time" if method == "srk" else "none")
    with torch.no_grad():
        return torchsde.sdeint(ModuleSDE(drift, diffusion), x0, times, bm=brownian, method=method, dt=dt)
