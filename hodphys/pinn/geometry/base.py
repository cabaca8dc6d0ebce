"""What every geometry offers: interior and boundary points, outward normals, named boundary parts.

Glossary: d dimension, n points. All points are float64 (the problem casts them); sampling draws
from a torch.Generator (``method="uniform"``) or scipy.stats.qmc seeded from it (``"sobol"``,
``"halton"``), so one seed gives one set of points.

A boundary is a list of :class:`Piece` (a face, an edge, a sphere, a facet set), each with a name
(a *part*: "left", "outflow", "initial", …), a measure (length/area) and a sampler returning
points on it with unit outward normals. ``part="boundary"`` is every piece of the (spatial) boundary.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

METHODS = ("uniform", "sobol", "halton")
BOUNDARY = "boundary"
TOLERANCE = 1e-9  # |sdf| below this counts as on the boundary


def unit_cube(n: int, k: int, generator: torch.Generator, method: str = "uniform") -> Tensor:
    """n points in [0, 1)^k (n, k), float64: uniform random or scrambled Sobol/Halton."""
    if method not in METHODS:
        raise ValueError(f"sampling method: expected one of {list(METHODS)}, got {method!r}")
    if k == 0:
        return torch.zeros(n, 0, dtype=torch.float64)
    if method == "uniform":
        return torch.rand(n, k, generator=generator, dtype=torch.float64)
    from scipy.stats import qmc

    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    engine = qmc.Sobol(k, seed=seed) if method == "sobol" else qmc.Halton(k, seed=seed)
    with warnings.catch_warnings():  # Sobol prefers powers of two; any n is still low-discrepancy
        warnings.simplefilter("ignore", UserWarning)
        return torch.as_tensor(engine.random(n), dtype=torch.float64)


@dataclass
class Piece:
    """A named piece of a boundary: ``sample(n, generator, method) -> (points (n, d), normals (n, d))``."""

    name: str
    measure: float
    sample: Callable[[int, torch.Generator, str], tuple[Tensor, Tensor]]
    spatial: bool = True  # part of "boundary" (False: the t = t0 / t = t1 faces of a space-time domain)
    aliases: tuple[str, ...] = ()  # other names of the part, e.g. "t == 0" for "initial"


def split_counts(n: int, weights: Sequence[float], generator: torch.Generator) -> list[int]:
    """n points among pieces ∝ weights (multinomial, so every draw is unbiased)."""
    w = torch.tensor(list(weights), dtype=torch.float64)
    if n == 0 or len(w) == 1:
        return [n] + [0] * (len(w) - 1)
    picks = torch.multinomial(w, n, replacement=True, generator=generator)
    return torch.bincount(picks, minlength=len(w)).tolist()


class Geometry:
    """Base of every domain Ω ⊂ R^d: subclasses give ``dim``, ``low``/``high`` (bounding box, (d,)),
    :meth:`sdf` (or :meth:`contains`) and :meth:`pieces`."""

    dim: int
    low: Tensor
    high: Tensor

    # --- what a subclass defines -----------------------------------------------------------------
    def sdf(self, x: Tensor) -> Tensor | None:
        """Signed distance (n,), negative inside, on x's device; None where a geometry has none.

        A geometry keeps its data in float64 on the CPU (sampling uses CPU generators); ``sdf`` and
        :meth:`contains` take points on any device and answer there (a hard constraint on a GPU)."""
        return None

    def pieces(self) -> list[Piece]:
        raise NotImplementedError(f"{type(self).__name__} must define pieces()")

    # --- derived -------------------------------------------------------------------------------------
    def contains(self, x: Tensor, tolerance: float = TOLERANCE) -> Tensor:
        """Whether each point lies in the closed domain, (n,) bool."""
        return self.sdf(x) <= tolerance

    def parts(self) -> list[str]:
        """The names of the boundary parts (plus "boundary", all of the spatial boundary)."""
        return list(dict.fromkeys([BOUNDARY, *(n for p in self.pieces() for n in (p.name, *p.aliases))]))

    def pieces_of(self, part: str) -> list[Piece]:
        """The pieces of a part; ValueError names the known parts."""
        chosen = [p for p in self.pieces() if part in (p.name, *p.aliases) or (part == BOUNDARY and p.spatial)]
        if not chosen:
            raise ValueError(f"{type(self).__name__}: unknown boundary part {part!r}; known parts: {self.parts()}")
        return chosen

    def volume(self) -> float:
        """|Ω| by quasi-Monte Carlo on the bounding box (2¹⁶ Sobol points); exact in the primitives."""
        unit = unit_cube(1 << 16, self.dim, torch.Generator().manual_seed(0), "sobol")
        box = float((self.high - self.low).prod())
        return box * float(self.contains(self.low + unit * (self.high - self.low)).double().mean())

    def sample_interior(self, n: int, generator: torch.Generator, method: str = "uniform") -> Tensor:
        """n points in Ω (n, d), by rejection from the bounding box."""
        return rejection(n, self.dim, generator, method, lambda u: self.low + u * (self.high - self.low),
                         self.contains, f"{type(self).__name__} interior")

    def sample_boundary(self, n: int, generator: torch.Generator, part: str = BOUNDARY,
                        method: str = "uniform") -> tuple[Tensor, Tensor]:
        """n points on a boundary part and their unit outward normals, both (n, d); pieces ∝ measure."""
        pieces = self.pieces_of(part)
        counts = split_counts(n, [p.measure for p in pieces], generator)
        drawn = [p.sample(c, generator, method) for p, c in zip(pieces, counts) if c]
        if not drawn:
            empty = torch.zeros(0, self.dim, dtype=torch.float64)
            return empty, empty.clone()
        return torch.cat([d[0] for d in drawn]), torch.cat([d[1] for d in drawn])

    # --- CSG -----------------------------------------------------------------------------------------
    def __or__(self, other: Geometry) -> Geometry:
        from hodphys.pinn.geometry.csg import Union
        return Union(self, other)

    def __sub__(self, other: Geometry) -> Geometry:
        from hodphys.pinn.geometry.csg import Difference
        return Difference(self, other)

    def __and__(self, other: Geometry) -> Geometry:
        from hodphys.pinn.geometry.csg import Intersection
        return Intersection(self, other)


def rejection(n: int, k: int, generator: torch.Generator, method: str, place: Callable[[Tensor], Tensor],
              keep: Callable[[Tensor], Tensor], what: str, rounds: int = 200) -> Tensor:
    """n points ``place(u)`` (u in [0, 1)^k) that ``keep`` accepts, drawn in growing batches."""
    found, total, batch = [], 0, max(2 * n, 64)
    for _ in range(rounds):
        if total >= n:
            break
        x = place(unit_cube(batch, k, generator, method))
        x = x[keep(x)]
        found.append(x)
        total += x.shape[0]
        if total == 0:
            batch *= 2
    if total < n:
        raise ValueError(f"{what}: found {total} of {n} points after {rounds} rounds of rejection sampling; "
                         f"the domain is empty or has (almost) no volume")
    return torch.cat(found)[:n]
