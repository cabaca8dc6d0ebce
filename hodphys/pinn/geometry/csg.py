"""Constructive solid geometry: A | B (union), A − B (difference), A & B (intersection).

The signed distance is min(a, b), max(a, −b), max(a, b) — exact outside for a union and a
bound elsewhere (enough for inside tests and hard constraints that only need its sign and zeros).
The boundary is made of the operands' pieces (keeping their part names), each restricted by
rejection: for A | B the pieces of A strictly outside B and vice versa; for A − B those of A
outside B and those of B inside A (normals flipped); for A & B those of each inside the other.
Boundary that A and B share exactly is dropped (it is interior to the union).
"""
from __future__ import annotations

import torch
from torch import Tensor

from hodphys.pinn.geometry.base import TOLERANCE, Geometry, Piece, rejection


class _CSG(Geometry):
    symbol = "?"

    def __init__(self, a: Geometry, b: Geometry):
        if not (isinstance(a, Geometry) and isinstance(b, Geometry)) or a.dim != b.dim:
            raise ValueError(f"CSG {self.symbol}: expected two geometries of one dimension, got "
                             f"{type(a).__name__} (d={getattr(a, 'dim', '?')}) and {type(b).__name__} "
                             f"(d={getattr(b, 'dim', '?')})")
        self.a, self.b, self.dim = a, b, a.dim
        self.low, self.high = self._box()
        if not bool((self.low < self.high).all()) or self.volume() == 0:
            raise ValueError(f"CSG {type(a).__name__} {self.symbol} {type(b).__name__}: the result is empty "
                             f"(it has no volume)")

    def _box(self) -> tuple[Tensor, Tensor]:
        return self.a.low, self.a.high

    def _keep(self, piece: Piece, other: Geometry, keep_inside: bool, flip: bool) -> Piece:
        """The piece restricted to where ``other`` is (strictly) inside/outside, measure by acceptance."""
        def accept(x: Tensor) -> Tensor:
            s = other.sdf(x)
            return s < -TOLERANCE if keep_inside else s > TOLERANCE

        def sample(n: int, generator: torch.Generator, method: str) -> tuple[Tensor, Tensor]:
            def draw(u: Tensor) -> Tensor:  # points and normals side by side, so rejection keeps pairs
                x, normal = piece.sample(u.shape[0], generator, method)
                return torch.cat([x, -normal if flip else normal], -1)
            both = rejection(n, 0, generator, method, draw, lambda z: accept(z[:, :self.dim]),
                             f"CSG boundary part {piece.name!r}")
            return both[:, :self.dim], both[:, self.dim:]

        probe = piece.sample(4096, torch.Generator().manual_seed(0), "sobol")[0]
        fraction = float(accept(probe).double().mean())
        return Piece(piece.name, piece.measure * fraction, sample, piece.spatial, piece.aliases)

    def pieces(self) -> list[Piece]:
        if getattr(self, "_pieces", None) is None:  # the acceptance probes run once
            self._pieces = self._restricted_pieces()
        return self._pieces

    def _restricted_pieces(self) -> list[Piece]:
        inside_a, inside_b, flip_b = self._rules()
        kept = [self._keep(p, self.b, inside_a, False) for p in self.a.pieces()]
        kept += [self._keep(p, self.a, inside_b, flip_b) for p in self.b.pieces()]
        return [p for p in kept if p.measure > 0]


class Union(_CSG):
    symbol = "|"

    def _box(self):
        return torch.minimum(self.a.low, self.b.low), torch.maximum(self.a.high, self.b.high)

    def sdf(self, x: Tensor) -> Tensor:
        return torch.minimum(self.a.sdf(x), self.b.sdf(x))

    def _rules(self):
        return False, False, False


class Difference(_CSG):
    symbol = "-"

    def sdf(self, x: Tensor) -> Tensor:
        return torch.maximum(self.a.sdf(x), -self.b.sdf(x))

    def _rules(self):
        return False, True, True


class Intersection(_CSG):
    symbol = "&"

    def _box(self):
        return torch.maximum(self.a.low, self.b.low), torch.minimum(self.a.high, self.b.high)

    def sdf(self, x: Tensor) -> Tensor:
        return torch.maximum(self.a.sdf(x), self.b.sdf(x))

    def _rules(self):
        return True, True, False
