"""Population snapshots of an SDE: samples of x(t_k) at a few times, never trajectories.

    data = simulate_snapshots(process.drift, process.diffusion, process.initial, times, n, seed)
    check_snapshots(data.times, data.samples)      # clear errors before any training

Each time gets its own particles (one torchsde simulation of len(times)·n particles, particle
block k observed at t_k only), so no particle is seen twice.

Glossary: T times, n samples per time, d dimensions.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hodphys.sde.coefficients import evaluate
from hodphys.sde.sampling import sample_paths


@dataclass(frozen=True)
class Snapshots:
    """times (T,) increasing; samples[k] (n_k, d) observed at times[k]."""

    times: Tensor
    samples: list[Tensor]

    @property
    def d(self) -> int:
        return self.samples[0].shape[1]

    def stacked(self) -> tuple[Tensor, Tensor]:
        """All samples (Σn_k, d) and their times (Σn_k,)."""
        x = torch.cat(self.samples)
        t = torch.cat([torch.full((len(s),), float(tk), dtype=x.dtype) for tk, s in zip(self.times, self.samples)])
        return x, t


def check_snapshots(times: Sequence[float] | Tensor, samples: Sequence[Tensor], d: int | None = None) -> Snapshots:
    """Validate observed snapshots; ValueError names what is wrong. Returns them as :class:`Snapshots`."""
    times = torch.as_tensor(times, dtype=torch.float64).flatten()
    if len(times) != len(samples) or len(times) < 2:
        raise ValueError(f"snapshots: expected at least two times and one sample set per time, "
                         f"got {len(times)} times and {len(samples)} sample sets")
    if not bool(torch.isfinite(times).all()) or not bool((times[1:] > times[:-1]).all()):
        raise ValueError(f"snapshots: expected strictly increasing finite times, got {times.tolist()}")
    d = samples[0].shape[-1] if d is None and samples[0].ndim == 2 else d
    for k, x in enumerate(samples):
        if x.ndim != 2 or x.shape[1] != d or len(x) < 2:
            raise ValueError(f"snapshots: expected samples[{k}] of shape (n, {d}) with n ≥ 2 "
                             f"(every snapshot in the same dimension), got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"snapshots: samples[{k}] (t = {float(times[k]):g}) contains NaN or infinite values")
    return Snapshots(times, list(samples))


def check_diffusion(diffusion: nn.Module, x: Tensor, t: Tensor) -> None:
    """g(x, t) must be finite and ≥ 0 on the data (a negative g is a modelling error, not a sign convention)."""
    with torch.no_grad():
        g = evaluate(diffusion, x, t)
    if g.shape != x.shape:
        raise ValueError(f"diffusion: expected g(x) of shape {tuple(x.shape)} (diagonal noise), got {tuple(g.shape)}")
    if not bool(torch.isfinite(g).all()):
        raise ValueError("diffusion: g(x) is NaN or infinite on the data")
    if float(g.min()) < 0:
        raise ValueError(f"diffusion: expected g(x) ≥ 0, got a minimum of {float(g.min()):.3g} on the data "
                         f"(wrap the network in hodphys.sde.DiagonalDiffusion to make it positive)")


def simulate_snapshots(drift: nn.Module, diffusion: nn.Module, initial: Callable[[int, torch.Generator], Tensor],
                       times: Sequence[float], n: int, seed: int, dt: float = 5e-3) -> Snapshots:
    """n independent samples of x(t_k) for each time t_k ≥ 0, x(0) ~ ``initial`` (SRK, torchsde, float64)."""
    times_t = check_snapshots(times, [torch.zeros(2, 1)] * len(times)).times
    if n < 2 or float(times_t[0]) < 0:
        raise ValueError(f"simulate_snapshots: expected n ≥ 2 samples per time and times ≥ 0, "
                         f"got n={n}, times={times_t.tolist()}")
    x0 = initial(n * len(times_t), torch.Generator().manual_seed(seed))
    from_zero = float(times_t[0]) > 0
    grid = torch.cat([times_t.new_zeros(1), times_t]) if from_zero else times_t
    paths = sample_paths(drift, diffusion, x0, grid, dt=dt, seed=seed)[int(from_zero):]
    return check_snapshots(times_t, [paths[k, k * n:(k + 1) * n] for k in range(len(times_t))])
