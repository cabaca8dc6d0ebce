"""Primitive domains with exact signed distances: Interval, Box, Ball (Disk), Polygon.

Box faces are named per axis: "left"/"right" (x₁), "bottom"/"top" (x₂), "front"/"back" (x₃),
"min4"/"max4" … beyond; an Interval's ends "left"/"right"; a Ball's surface "sphere"; a
Polygon's edges "edge0" … unless ``names`` says otherwise (edges may share a name).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from hodphys.pinn.geometry.base import Geometry, Piece, unit_cube

FACE_NAMES = (("left", "right"), ("bottom", "top"), ("front", "back"))


def _f64(values) -> Tensor:
    return torch.as_tensor(values, dtype=torch.float64)


def face_name(axis: int, high: bool) -> str:
    return FACE_NAMES[axis][high] if axis < len(FACE_NAMES) else f"{'max' if high else 'min'}{axis + 1}"


class Box(Geometry):
    """Π_i [low_i, high_i] ⊂ R^d."""

    def __init__(self, low: Sequence[float], high: Sequence[float]):
        self.low, self.high = _f64(low).reshape(-1), _f64(high).reshape(-1)
        if self.low.shape != self.high.shape or not bool((self.low < self.high).all()):
            raise ValueError(f"{type(self).__name__}: expected low < high in every coordinate, "
                             f"got low={low}, high={high}")
        self.dim = self.low.shape[0]

    def sdf(self, x: Tensor) -> Tensor:
        low, high = self.low.to(x.device), self.high.to(x.device)
        centre, half = (low + high) / 2, (high - low) / 2
        q = (x.double() - centre).abs() - half
        return q.clamp(min=0).norm(dim=-1) + q.max(-1).values.clamp(max=0)

    def volume(self) -> float:
        return float((self.high - self.low).prod())

    def pieces(self) -> list[Piece]:
        extent = self.high - self.low
        return [Piece(face_name(axis, bool(high)), float(extent.prod() / extent[axis]),
                      self._face_sampler(axis, bool(high))) for axis in range(self.dim) for high in (0, 1)]

    def _face_sampler(self, axis: int, high: bool):
        def sample(n: int, generator: torch.Generator, method: str) -> tuple[Tensor, Tensor]:
            unit = unit_cube(n, self.dim, generator, method)
            unit[:, axis] = float(high)
            normals = torch.zeros(n, self.dim, dtype=torch.float64)
            normals[:, axis] = 1.0 if high else -1.0
            return self.low + unit * (self.high - self.low), normals
        return sample


class Interval(Box):
    """[a, b] ⊂ R."""

    def __init__(self, a: float, b: float):
        super().__init__([a], [b])


class Ball(Geometry):
    """{x : |x − c| ≤ r} in 2 (a disk) or 3 dimensions; its surface is the part "sphere"."""

    def __init__(self, centre: Sequence[float], radius: float):
        self.centre = _f64(centre).reshape(-1)
        self.dim, self.radius = self.centre.shape[0], float(radius)
        if self.dim not in (2, 3) or not self.radius > 0:
            raise ValueError(f"Ball: expected a centre in 2 or 3 dimensions and radius > 0, "
                             f"got {list(centre)}, {radius}")
        self.low, self.high = self.centre - self.radius, self.centre + self.radius

    def sdf(self, x: Tensor) -> Tensor:
        return (x.double() - self.centre.to(x.device)).norm(dim=-1) - self.radius

    def volume(self) -> float:
        return math.pi * self.radius**2 if self.dim == 2 else 4 / 3 * math.pi * self.radius**3

    def pieces(self) -> list[Piece]:
        area = 2 * math.pi * self.radius if self.dim == 2 else 4 * math.pi * self.radius**2
        return [Piece("sphere", area, self._sample_sphere)]

    def _sample_sphere(self, n: int, generator: torch.Generator, method: str) -> tuple[Tensor, Tensor]:
        u = unit_cube(n, self.dim - 1, generator, method)
        if self.dim == 2:
            angle = 2 * math.pi * u[:, 0]
            normals = torch.stack([angle.cos(), angle.sin()], -1)
        else:  # z uniform in [−1, 1] and an angle: uniform on the sphere (Archimedes)
            z, angle = 2 * u[:, 0] - 1, 2 * math.pi * u[:, 1]
            rho = (1 - z * z).clamp(min=0).sqrt()
            normals = torch.stack([rho * angle.cos(), rho * angle.sin(), z], -1)
        return self.centre + self.radius * normals, normals


def Disk(centre: Sequence[float], radius: float) -> Ball:  # noqa: N802 (a geometry's name)
    """The 2-D :class:`Ball`."""
    if len(centre) != 2:
        raise ValueError(f"Disk: expected a 2-D centre, got {list(centre)}")
    return Ball(centre, radius)


class Polygon(Geometry):
    """A simple polygon from its vertices (n_v, 2), either orientation; edges named by ``names``."""

    def __init__(self, vertices: Sequence[Sequence[float]], names: Sequence[str] | None = None):
        v = _f64(vertices)
        if v.ndim != 2 or v.shape[1] != 2 or v.shape[0] < 3:
            raise ValueError(f"Polygon: expected at least 3 vertices of shape (n_v, 2), got shape {tuple(v.shape)}")
        signed = 0.5 * float((v[:, 0] * v.roll(-1, 0)[:, 1] - v.roll(-1, 0)[:, 0] * v[:, 1]).sum())
        if abs(signed) == 0:
            raise ValueError("Polygon: the vertices enclose no area")
        self.vertices = v if signed > 0 else v.flip(0)  # counter-clockwise
        self.area, self.dim = abs(signed), 2
        self.names = list(names) if names is not None else [f"edge{k}" for k in range(v.shape[0])]
        if len(self.names) != v.shape[0]:
            raise ValueError(f"Polygon: expected {v.shape[0]} edge names (one per edge), got {len(self.names)}")
        if signed < 0:  # edge k of the caller runs v_k → v_{k+1}; flipped, it is edge n−2−k
            self.names = [self.names[(len(self.names) - 2 - k) % len(self.names)] for k in range(len(self.names))]
        self.low, self.high = self.vertices.min(0).values, self.vertices.max(0).values

    def _edges(self) -> tuple[Tensor, Tensor]:
        return self.vertices, self.vertices.roll(-1, 0)

    def sdf(self, x: Tensor) -> Tensor:
        x = x.double()
        a, b = (end.to(x.device) for end in self._edges())
        ab = b - a  # (E, 2)
        ap = x[:, None, :] - a  # (n, E, 2)
        s = ((ap * ab).sum(-1) / (ab * ab).sum(-1)).clamp(0, 1)
        distance = (ap - s[..., None] * ab).norm(dim=-1).min(-1).values
        # even–odd rule: a ray to +x crosses an odd number of edges from inside
        y = x[:, None, 1]
        straddles = (a[:, 1] > y) != (b[:, 1] > y)
        cross_x = a[:, 0] + (y - a[:, 1]) * ab[:, 0] / torch.where(ab[:, 1] == 0, 1.0, ab[:, 1])
        inside = (straddles & (x[:, None, 0] < cross_x)).sum(-1) % 2 == 1
        return torch.where(inside, -distance, distance)

    def volume(self) -> float:
        return self.area

    def pieces(self) -> list[Piece]:
        a, b = self._edges()
        return [Piece(self.names[k], float((b[k] - a[k]).norm()), self._edge_sampler(a[k], b[k]))
                for k in range(a.shape[0])]

    @staticmethod
    def _edge_sampler(a: Tensor, b: Tensor):
        edge = b - a
        normal = torch.stack([edge[1], -edge[0]]) / edge.norm()  # outward for a counter-clockwise polygon

        def sample(n: int, generator: torch.Generator, method: str) -> tuple[Tensor, Tensor]:
            s = unit_cube(n, 1, generator, method)
            return a + s * edge, normal.expand(n, 2).clone()
        return sample
