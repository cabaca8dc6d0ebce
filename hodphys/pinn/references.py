"""Reference solutions computed in code for the built-in PINN problems (no downloaded data).

* :func:`burgers_cole_hopf` — viscous Burgers u_t + u u_x = ν u_xx on [−1, 1], u(x, 0) = −sin πx,
  u(±1, t) = 0, by the Cole–Hopf transform: u = −2ν φ_x/φ with φ the heat-equation solution, i.e.

      u(x, t) = − ∫ sin(π(x − η)) f(x − η) G(η) dη / ∫ f(x − η) G(η) dη,
      f(y) = exp(−cos(πy)/(2πν)),  G(η) = exp(−η²/(4νt)),

  both integrals by the trapezoidal rule in η (spectrally accurate: the integrands decay like a
  Gaussian), in log space so exp(1/(2πν)) never overflows.
* :func:`poisson_fd` — −Δu = f in a domain whose boundary runs along grid lines (an L-shape, …),
  u = 0 on ∂Ω, by the 5-point finite-difference Laplacian on a uniform grid (scipy sparse solve):
  O(h²) for smooth u, O(h^{4/3}) in the norm near a re-entrant corner (u ~ r^{2/3}).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor


def burgers_cole_hopf(x: Tensor, t: Tensor, nu: float, quadrature: int = 401) -> Tensor:
    """u(x, t) for x (N,), t (N,) as (N,) float64; t = 0 gives −sin πx."""
    x, t = x.double().reshape(-1), t.double().reshape(-1)
    out = -torch.sin(math.pi * x)
    later = t > 0
    if not later.any():
        return out
    xs, ts = x[later, None], t[later, None]
    width = torch.sqrt(4 * nu * ts)  # G's scale: integrate η over ±12 widths
    eta = width * torch.linspace(-12, 12, quadrature, dtype=torch.float64)
    y = xs - eta
    log_weight = -torch.cos(math.pi * y) / (2 * math.pi * nu) - (eta / width) ** 2
    weight = torch.exp(log_weight - log_weight.max(-1, keepdim=True).values)
    out[later] = -(torch.sin(math.pi * y) * weight).sum(-1) / weight.sum(-1)
    return out


def burgers_table(nu: float, nx: int = 256, nt: int = 100) -> tuple[Tensor, Tensor]:
    """The usual Burgers reference grid: nx points in x ∈ [−1, 1] × nt in t ∈ [0, 1]:
    points (nx·nt, 2) as (x, t) and values (nx·nt, 1)."""
    x = torch.linspace(-1, 1, nx, dtype=torch.float64)
    t = torch.linspace(0, 1, nt, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(x, t, indexing="ij"), -1).reshape(-1, 2)
    values = torch.cat([burgers_cole_hopf(part[:, 0], part[:, 1], nu) for part in grid.split(4096)])
    return grid, values[:, None]


def poisson_fd_bytes(n: int) -> int:
    """A lower bound of :func:`poisson_fd`'s memory on an n × n grid: the nodes' coordinates (meshgrid and
    stacked, 4 n² float64) and the five-point matrix (≤ 5 n² entries of a value and two indices, 24 B each);
    the sparse factorisation's fill-in comes on top."""
    return 4 * n * n * 8 + 5 * n * n * 24


def poisson_fd(sdf: Callable[[Tensor], Tensor], source: Callable[[Tensor], Tensor],
               low: tuple[float, float], high: tuple[float, float], n: int) -> tuple[Tensor, Tensor]:
    """−Δu = f in Ω, u = 0 on ∂Ω, for a domain whose boundary runs along grid lines (an L-shape, …)
    given by its signed distance, on the n × n grid of the box [low, high]: the unknowns are the
    nodes strictly inside, every other node of Ω̄ is a boundary node (u = 0).
    Returns the nodes of Ω̄ (M, 2) and u there (M, 1)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    xs, ys = (np.linspace(low[i], high[i], n) for i in (0, 1))
    h = xs[1] - xs[0]
    if not np.isclose(ys[1] - ys[0], h):
        raise ValueError(f"poisson_fd: expected a square grid spacing, got {h} and {ys[1] - ys[0]}")
    grid = torch.as_tensor(np.stack(np.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2))
    distance = sdf(grid).numpy().reshape(n, n)
    closed, interior = distance <= 1e-9, distance < -1e-9
    index = -np.ones((n, n), dtype=np.int64)
    index[interior] = np.arange(interior.sum())
    i, j = np.nonzero(interior)
    rows, cols, vals = [index[i, j]], [index[i, j]], [np.full(len(i), 4 / h**2)]
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        neighbour = interior[i + di, j + dj]
        rows.append(index[i, j][neighbour])
        cols.append(index[i + di, j + dj][neighbour])
        vals.append(np.full(int(neighbour.sum()), -1 / h**2))
    size = int(interior.sum())
    matrix = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size))
    f = source(grid).double().numpy().reshape(n, n)[interior]
    u = np.zeros((n, n))
    u[interior] = spsolve(matrix.tocsr(), f)
    keep = closed.reshape(-1)
    return grid[keep], torch.as_tensor(u.reshape(-1)[keep])[:, None]
