"""Choosing the number of mixture components K of the density by held-out likelihood.

The Fokker–Planck residual uses ∂_t s, ∇s and diag ∇²s of the fitted density, so surplus components
that fit the snapshots' sampling noise feed that noise into the residual (and, by attenuation, shrink
the learned diffusion). Each candidate K is fitted by maximum likelihood on a random part of every
snapshot and scored by the mean log-likelihood of the rest; the smallest K whose score is within
``tolerance`` nats of the best is chosen.

Glossary: N points, d dimensions, K components.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from hodphys.sde.density import space_time
from hodphys.sde.mixture import GaussianMixtureDensity


def fit_mixture(x: Tensor, t: Tensor, components: int, steps: int, lr: float = 3e-2,
                min_scale: float = 0.0) -> GaussianMixtureDensity:
    """A K-component time-conditioned mixture fitted by likelihood (Adam, full batch) to x (N, d) at t (N,).

    Initial means: K of the points; initial σ: half the pooled standard deviation.
    """
    centres = x[torch.randperm(len(x))[:components]]
    density = GaussianMixtureDensity(x.shape[1], components, centres=centres, scale=0.5 * float(x.std()),
                                     min_scale=min_scale).to(x)
    optimizer = torch.optim.Adam(density.parameters(), lr)
    z = space_time(x, t)
    for _ in range(steps):
        loss = -density(z).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return density


def select_components(x: Tensor, t: Tensor, candidates: Sequence[int], steps: int, seed: int = 0,
                      held_out: float = 0.2, tolerance: float = 0.01,
                      min_scale: float = 0.0) -> tuple[int, dict[int, float]]:
    """The smallest K in ``candidates`` whose held-out mean log-likelihood is within ``tolerance`` of the best.

    Shapes: x (N, d), t (N,). Returns K and the score of every candidate. Seeded: the global RNG is
    left as it was.
    """
    if not candidates or min(candidates) < 1 or not 0 < held_out < 1:
        raise ValueError(f"select_components: expected candidates ≥ 1 and 0 < held_out < 1, "
                         f"got {list(candidates)}, {held_out}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        order = torch.randperm(len(x))
        n_test = max(1, int(held_out * len(x)))
        test, train = order[:n_test], order[n_test:]
        scores = {}
        for k in sorted(set(candidates)):
            density = fit_mixture(x[train], t[train], k, steps, min_scale=min_scale)
            with torch.no_grad():
                scores[k] = float(density(space_time(x[test], t[test])).mean())
    best = max(scores.values())
    return min(k for k, score in scores.items() if score >= best - tolerance), scores
