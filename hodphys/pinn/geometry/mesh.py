"""A domain from a mesh file (read with meshio): triangles in 2-D, tetrahedra in 3-D.

Interior points: a cell chosen ∝ its measure, then uniform barycentric coordinates. Boundary:
the facets (edges / triangles) that belong to one cell only, outward normals pointing away from
the cell's opposite vertex. Named boundary parts come from the file's facet cells (lines in 2-D,
triangles in 3-D) named by ``cell_sets`` or by gmsh physical groups (``gmsh:physical`` tags and
their names in ``field_data``); boundary facets no part names form the part "unnamed" (without
any names: one part, "boundary"). No signed distance: inside tests locate the point in a cell
(barycentric coordinates ≥ 0).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hodphys.pinn.geometry.base import Geometry, Piece, split_counts, unit_cube

CELL_TYPES = {2: "triangle", 3: "tetra"}
FACET_TYPES = {2: "line", 3: "triangle"}


def _simplex_measure(corners: Tensor) -> Tensor:
    """Measures of k-simplices in R^d from corners (c, k+1, d): √det(EᵀE)/k!."""
    edges = corners[:, 1:] - corners[:, :1]
    gram = edges @ edges.transpose(1, 2)
    k = edges.shape[1]
    return gram.det().clamp(min=0).sqrt() / float(torch.arange(1, k + 1).prod())


def _barycentric(n: int, k: int, generator: torch.Generator, method: str) -> Tensor:
    """Uniform barycentric weights (n, k+1) on a k-simplex (sorted uniforms' gaps)."""
    u = unit_cube(n, k, generator, method).sort(-1).values
    zeros, ones = torch.zeros(n, 1, dtype=torch.float64), torch.ones(n, 1, dtype=torch.float64)
    return torch.cat([u, ones], -1) - torch.cat([zeros, u], -1)


class MeshDomain(Geometry):
    """Ω from ``path`` (any format meshio reads, or a ``meshio.Mesh`` made in code, e.g. by pygmsh)
    with its triangle (2-D) or tetra (3-D) cells."""

    def __init__(self, path: str | Path | Any, dim: int = 2):
        import meshio

        if dim not in CELL_TYPES:
            raise ValueError(f"MeshDomain: expected dim 2 (triangles) or 3 (tetrahedra), got {dim}")
        mesh = path if isinstance(path, meshio.Mesh) else meshio.read(path)
        path = "(meshio.Mesh)" if isinstance(path, meshio.Mesh) else path
        cells = mesh.cells_dict.get(CELL_TYPES[dim])
        if cells is None or len(cells) == 0:
            raise ValueError(f"MeshDomain {path}: no {CELL_TYPES[dim]} cells (found {sorted(mesh.cells_dict)})")
        self.dim = dim
        self.points = torch.as_tensor(mesh.points[:, :dim], dtype=torch.float64)
        self.cells = torch.as_tensor(cells, dtype=torch.long)
        self.corners = self.points[self.cells]  # (c, d+1, d)
        self.measures = _simplex_measure(self.corners)
        self.low, self.high = self.points.min(0).values, self.points.max(0).values
        self.facets, self.normals = self._boundary()
        self.part_of = self._named_parts(mesh, str(path))  # boundary facet → part name

    def _boundary(self) -> tuple[Tensor, Tensor]:
        """Boundary facets (f, d) of vertex indices and their outward unit normals (f, d)."""
        count: dict[tuple, list] = {}
        for cell in self.cells.tolist():
            for opposite in range(self.dim + 1):
                facet = tuple(sorted(v for i, v in enumerate(cell) if i != opposite))
                count.setdefault(facet, []).append(cell[opposite])
        outer = [(facet, others[0]) for facet, others in count.items() if len(others) == 1]
        facets = torch.tensor([f for f, _ in outer], dtype=torch.long)
        away = self.points[facets].mean(1) - self.points[torch.tensor([o for _, o in outer])]
        corners = self.points[facets]
        if self.dim == 2:
            edge = corners[:, 1] - corners[:, 0]
            normal = torch.stack([edge[:, 1], -edge[:, 0]], -1)
        else:
            normal = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        normal = normal / normal.norm(dim=-1, keepdim=True)
        sign = torch.where((normal * away).sum(-1) < 0, -1.0, 1.0).to(torch.float64)
        return facets, normal * sign[:, None]

    def _named_facets(self, mesh) -> dict[str, list[tuple]]:
        """Facets (sorted vertex tuples) per name, from cell_sets and gmsh physical groups."""
        kind, named = FACET_TYPES[self.dim], {}
        blocks = [(i, block.data) for i, block in enumerate(mesh.cells) if block.type == kind]
        for name, per_block in (mesh.cell_sets or {}).items():
            for i, data in blocks:
                if i < len(per_block) and per_block[i] is not None and len(per_block[i]):
                    named.setdefault(name, []).extend(map(tuple, data[per_block[i]].tolist()))
        tags = mesh.cell_data.get("gmsh:physical")
        for name, (tag, dim) in ((n, v[:2]) for n, v in (mesh.field_data or {}).items()):
            if tags is not None and int(dim) == self.dim - 1:
                for i, data in blocks:
                    named.setdefault(name, []).extend(map(tuple, data[tags[i] == tag].tolist()))
        return {name: [tuple(sorted(f)) for f in facets] for name, facets in named.items() if facets}

    def _named_parts(self, mesh, path: str) -> list[str]:
        """The part of each boundary facet (the first name that lists it; "unnamed" for none)."""
        index = {tuple(f): k for k, f in enumerate(self.facets.tolist())}
        named = self._named_facets(mesh)
        part_of = ["unnamed" if named else "boundary"] * len(index)
        for name, facets in reversed(list(named.items())):
            missing = [f for f in facets if f not in index]
            if missing:
                raise ValueError(f"MeshDomain {path}: part {name!r} names {len(missing)} facets that are not on "
                                 f"the boundary (e.g. vertices {list(missing[0])}); expected boundary facets")
            for f in facets:
                part_of[index[f]] = name
        return part_of

    def volume(self) -> float:
        return float(self.measures.sum())

    def contains(self, x: Tensor, tolerance: float = 1e-9) -> Tensor:
        x = x.double()
        corners = self.corners.to(x.device)
        origin = corners[:, 0]  # (c, d)
        frame = (corners[:, 1:] - origin[:, None]).transpose(1, 2)  # (c, d, d)
        inverse = torch.linalg.inv(frame)
        inside = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for part in range(0, x.shape[0], 2048):
            chunk = x[part:part + 2048]
            lam = torch.einsum("cij,ncj->nci", inverse, chunk[:, None] - origin)  # (n, c, d)
            ok = (lam >= -tolerance).all(-1) & (lam.sum(-1) <= 1 + tolerance)
            inside[part:part + 2048] = ok.any(-1)
        return inside

    def sample_interior(self, n: int, generator: torch.Generator, method: str = "uniform") -> Tensor:
        counts = torch.tensor(split_counts(n, self.measures.tolist(), generator))
        cell = torch.repeat_interleave(torch.arange(len(counts)), counts)
        weights = _barycentric(n, self.dim, generator, method)
        return (weights[:, :, None] * self.corners[cell]).sum(1)

    def pieces(self) -> list[Piece]:
        """One piece per part name, over its boundary facets."""
        names = list(dict.fromkeys(self.part_of))
        return [self._piece(name, torch.tensor([p == name for p in self.part_of])) for name in names]

    def _piece(self, name: str, chosen: Tensor) -> Piece:
        corners, normals = self.points[self.facets[chosen]], self.normals[chosen]
        measures = _simplex_measure(corners)

        def sample(n: int, generator: torch.Generator, method: str) -> tuple[Tensor, Tensor]:
            counts = torch.tensor(split_counts(n, measures.tolist(), generator))
            facet = torch.repeat_interleave(torch.arange(len(counts)), counts)
            weights = _barycentric(n, self.dim - 1, generator, method)
            return (weights[:, :, None] * corners[facet]).sum(1), normals[facet]
        return Piece(name, float(measures.sum()), sample)


