"""Poisson −Δu = 1 on the L-shape [−1, 1]² ∖ (0, 1]², u = 0 on the boundary (DeepXDE's classic).

The reference is the 5-point finite-difference solution on a 161 × 161 grid (h = 1/80), computed
in code (:func:`hodphys.pinn.references.poisson_fd`); its own error is ≈ 1e-3 relative, far below
the PINN's. The domain is one Polygon; plots are masked to it.

    hodphys run poisson-lshape
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hodphys.checks import check_integers
from hodphys.memory_limit import check_bytes
from hodphys.pinn import Dirichlet, PinnConfig, Problem
from hodphys.pinn.geometry import Polygon
from hodphys.pinn.references import poisson_fd, poisson_fd_bytes
from hodphys.train import solve

NAME = "poisson-lshape"
DESCRIPTION = "Poisson -Δu = 1 on an L-shape, u = 0 on the boundary; finite-difference reference"
L_SHAPE = [(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)]


@dataclass
class Config(PinnConfig):
    widths: list[int] = field(default_factory=lambda: [50] * 4)
    n_interior: int = 1200
    n_boundary: int = 240
    adam_steps: int = 1000
    optimizer_steps: int = 3000  # the corner singularity is resolved by L-BFGS, not Adam
    finetune_points: int = 4000
    boundary_weight: float = 100.0  # u ≈ 0.15 at most: boundary errors weigh as much as Δu errors of 1e-2
    reference_grid: int = 161  # finite-difference nodes per axis (odd: the re-entrant corner is a node)


def problem(config: Config) -> Problem:
    domain = Polygon(L_SHAPE)
    reference = poisson_fd(domain.sdf, lambda x: x.new_ones(x.shape[0]), (-1, -1), (1, 1), config.reference_grid)
    return Problem(config, domain, pde=lambda f: -f["lap(u)"] - 1.0, needs=["lap(u)"],
                   conditions=[Dirichlet(0.0, weight=config.boundary_weight)], reference=reference)


def check(config: Config) -> None:
    """Refuse a bad reference grid (even, or too big for memory) before the run directory is made."""
    check_integers("config key 'reference_grid'", 3, value=config.reference_grid)
    if config.reference_grid % 2 == 0:
        raise ValueError(f"config key 'reference_grid': expected an odd number of nodes (the re-entrant corner "
                         f"is a node), got {config.reference_grid}")
    check_bytes(poisson_fd_bytes(config.reference_grid), f"the finite-difference reference on a "
                f"{config.reference_grid}² grid", "lower reference_grid (the default 161 is ≈ 1e-3 from the exact "
                "solution)")


def main(config: Config, run) -> dict:
    return solve(problem(config), run)
