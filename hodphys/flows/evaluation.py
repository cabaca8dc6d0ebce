"""Evaluating a trained CNF: exact log-likelihoods in chunks, and its density on a 2-D grid.

Glossary: N points, d dimension, n grid points per axis.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from hodphys.flows.cnf import CNF


class Likelihood(NamedTuple):
    """log p per point (N,), float64 on the CPU, and the largest NFE of any chunk's solve."""

    log_prob: Tensor
    nfe: int


@torch.no_grad()
def log_likelihood(flow: CNF, x: Tensor, chunk: int = 8192) -> Likelihood:
    """log p(x) for x (N, d) in chunks (no graph): the flow's own trace estimator and ODE options."""
    parts, nfe = [], 0
    for part in x.split(chunk):
        parts.append(flow.log_prob(part).double().cpu())
        nfe = max(nfe, flow.nfe.forward)
    return Likelihood(torch.cat(parts), nfe)


class GridDensity(NamedTuple):
    """p(x) on an n × n grid: axes (n, n) each (x along columns), density (n, n), its mass Σ p ΔA."""

    grid_x: Tensor
    grid_y: Tensor
    density: Tensor
    mass: float


def grid_density(flow: CNF, extent: float, size: int, chunk: int = 8192) -> GridDensity:
    """p(x) = exp log p(x) at the cell centres of [−extent, extent]², and its midpoint-rule mass."""
    if flow.d != 2:
        raise ValueError(f"grid_density: needs a 2-D flow, this one has d={flow.d}")
    like = next(flow.parameters())
    width = 2 * extent / size
    centres = torch.linspace(-extent + width / 2, extent - width / 2, size, dtype=torch.float64)
    grid_x, grid_y = torch.meshgrid(centres, centres, indexing="xy")
    points = torch.stack([grid_x.flatten(), grid_y.flatten()], dim=-1).to(like)
    density = log_likelihood(flow, points, chunk).log_prob.exp().reshape(size, size)
    return GridDensity(grid_x, grid_y, density, float(density.sum() * width**2))
