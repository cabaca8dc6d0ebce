"""The 2-D toy densities of the CNF literature (FFJORD, RNODE), generated in code from a seeded torch.Generator.

    x = toy_data("pinwheel", 1000, torch.Generator().manual_seed(0))   # (1000, 2), float64

Every set lies roughly in [−4, 4]²: 8gaussians, pinwheel, checkerboard, 2spirals, moons,
circles, swissroll.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from hodphys.checks import check_integers

Generator = torch.Generator


def _uniform(n: int, g: Generator) -> Tensor:
    return torch.rand(n, generator=g, dtype=torch.float64)


def _normal(*shape: int, g: Generator) -> Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def eight_gaussians(n: int, g: Generator) -> Tensor:
    """Eight Gaussians (σ = 0.5) on a circle of radius 4, all scaled by 1/√2."""
    angles = torch.randint(0, 8, (n,), generator=g).double() * (math.pi / 4)
    centres = 4 * torch.stack([angles.cos(), angles.sin()], dim=-1)
    return (centres + 0.5 * _normal(n, 2, g=g)) / math.sqrt(2)


def pinwheel(n: int, g: Generator) -> Tensor:
    """Five arms: radial σ 0.3, tangential σ 0.1 around (1, 0), rotated by 2πk/5 + 0.25·e^{r}, scaled by 2."""
    arm = torch.randint(0, 5, (n,), generator=g).double()
    features = _normal(n, 2, g=g) * torch.tensor([0.3, 0.1], dtype=torch.float64) + torch.tensor([1.0, 0.0])
    angle = arm * (2 * math.pi / 5) + 0.25 * features[:, 0].exp()
    cos, sin = angle.cos(), angle.sin()
    rotated = torch.stack([cos * features[:, 0] - sin * features[:, 1],
                           sin * features[:, 0] + cos * features[:, 1]], dim=-1)
    return 2 * rotated


def checkerboard(n: int, g: Generator) -> Tensor:
    """Uniform on the black squares of a 4 × 4 board of unit squares, scaled by 2 ([−4, 4]²)."""
    x1 = 4 * _uniform(n, g) - 2
    x2 = _uniform(n, g) - 2 * torch.randint(0, 2, (n,), generator=g).double()
    x2 = x2 + torch.floor(x1) % 2
    return 2 * torch.stack([x1, x2], dim=-1)


def two_spirals(n: int, g: Generator) -> Tensor:
    """Two interleaved Archimedean spirals (1.5 turns), jittered, scaled by 1/3, plus N(0, 0.1²)."""
    half = n // 2 + n % 2
    r = _uniform(half, g).sqrt() * (3 * math.pi)
    arm = torch.stack([-r.cos() * r + 0.5 * _uniform(half, g), r.sin() * r + 0.5 * _uniform(half, g)], dim=-1)
    points = torch.cat([arm, -arm])[:n] / 3
    return points + 0.1 * _normal(n, 2, g=g)


def moons(n: int, g: Generator) -> Tensor:
    """Two interleaving half circles (noise σ 0.1), scaled by 2 and centred."""
    upper = torch.rand(n, generator=g) < 0.5
    angle = math.pi * _uniform(n, g)
    x = torch.where(upper, angle.cos(), 1 - angle.cos())
    y = torch.where(upper, angle.sin(), 0.5 - angle.sin())
    points = torch.stack([x, y], dim=-1) + 0.1 * _normal(n, 2, g=g)
    return 2 * points - torch.tensor([1.0, 0.5], dtype=torch.float64)


def circles(n: int, g: Generator) -> Tensor:
    """Two concentric circles of radii 1 and 0.5 (noise σ 0.08), scaled by 3."""
    radius = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, 0.5).double()
    angle = 2 * math.pi * _uniform(n, g)
    points = radius[:, None] * torch.stack([angle.cos(), angle.sin()], dim=-1)
    return 3 * (points + 0.08 * _normal(n, 2, g=g))


def swissroll(n: int, g: Generator) -> Tensor:
    """The swiss roll's (x, z) plane: t = 1.5π(1 + 2u), (t cos t, t sin t) + N(0, 1), divided by 5."""
    t = 1.5 * math.pi * (1 + 2 * _uniform(n, g))
    points = torch.stack([t * t.cos(), t * t.sin()], dim=-1) + _normal(n, 2, g=g)
    return points / 5


TOY_DATASETS: dict[str, Callable[[int, Generator], Tensor]] = {
    "8gaussians": eight_gaussians, "pinwheel": pinwheel, "checkerboard": checkerboard,
    "2spirals": two_spirals, "moons": moons, "circles": circles, "swissroll": swissroll}


def toy_data(name: str, n: int, generator: Generator | None = None) -> Tensor:
    """n samples (n, 2) of the toy density ``name`` (float64; seed the generator for repeatability)."""
    if name not in TOY_DATASETS:
        raise ValueError(f"toy_data: unknown dataset {name!r}; expected one of {list(TOY_DATASETS)}")
    check_integers(f"toy_data({name!r})", 1, n=n)
    return TOY_DATASETS[name](n, generator if generator is not None else torch.Generator().manual_seed(0))
