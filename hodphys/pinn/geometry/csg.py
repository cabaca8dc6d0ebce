"""Constructive solid geometry: A | B (union), A − B (difference), A & B (intersection).

The signed distance is min(a, b), max(a, −b), max(a, b) — exact outside for a union and a
bound elsewhere (enough for inside tests and hard constraints that only need its sign and zeros).
The boundary is made of the operands' pieces (keeping their part names), each restricted by
rejection: for A | B the pieces of A strictly outside B and vice versa; for A − B those of A
outside B and those of B inside A (normals flipped); for A & B those of each inside the other.
Boundary the two share (collinear faces) is kept once, from A, when a step of 1e-6 along the
normal says it bounds the result; shared faces interior to the result are dropped.
"""
from __future__ import annotations

import torch
from torch import Tensor

from hodphys.pinn.geometry.base import TOLERANCE, Geometry, Piece, rejection

NUDGE = 1e-6  # the step along the normal that tells which side of a shared boundary a point is on


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

    def _keep(self, piece: Piece, other: Geometry, keep_inside: bool, flip: bool, step: float | None) -> Piece:
        """The piece restricted to where ``other`` is strictly inside/outside; with ``step``, also
        where it lies on ``other``'s boundary and x + step·n is inside/outside (boundary the two
        share: kept once, from this piece). Its measure by the acceptance of 4096 probes."""
        d = self.dim

        def side(s: Tensor) -> Tensor:
            return s < -TOLERANCE if keep_inside else s > TOLERANCE

        def accept(z: Tensor) -> Tensor:
            x, normal = z[:, :d], z[:, d:]
            s = other.sdf(x)
            if step is None:
                return side(s)
            return side(s) | ((s.abs() <= TOLERANCE) & side(other.sdf(x + step * NUDGE * normal)))

        def draw(n: int, generator: torch.Generator, method: str) -> Tensor:
            x, normal = piece.sample(n, generator, method)
            return torch.cat([x, normal], -1)

        def sample(n: int, generator: torch.Generator, method: str) -> tuple[Tensor, Tensor]:
            both = rejection(n, 0, generator, method, lambda u: draw(u.shape[0], generator, method), accept,
                             f"CSG boundary part {piece.name!r}")
            return both[:, :d], -both[:, d:] if flip else both[:, d:]

        fraction = float(accept(draw(4096, torch.Generator().manual_seed(0), "sobol")).double().mean())
        return Piece(piece.name, piece.measure * fraction, sample, piece.spatial, piece.aliases)

    def pieces(self) -> list[Piece]:
        if getattr(self, "_pieces", None) is None:  # the acceptance probes run once
            self._pieces = self._restricted_pieces()
        return self._pieces

    def _restricted_pieces(self) -> list[Piece]:
        inside_a, inside_b, flip_b, step = self._rules()
        kept = [self._keep(p, self.b, inside_a, False, step) for p in self.a.pieces()]
        kept += [self._keep(p, self.a, inside_b, flip_b, None) for p in self.b.pieces()]
        return [p for p in kept if p.measure > 0]


class Union(_CSG):
    symbol = "|"

    def _box(self):
        return torch.minimum(self.a.low, self.b.low), torch.maximum(self.a.high, self.b.high)

    def sdf(self, x: Tensor) -> Tensor:
        return torch.minimum(self.a.sdf(x), self.b.sdf(x))

    def _rules(self):  # A's pieces outside B (shared ones if the outward step leaves B), B's outside A
        return False, False, False, 1.0


class Difference(_CSG):
    symbol = "-"

    def sdf(self, x: Tensor) -> Tensor:
        return torch.maximum(self.a.sdf(x), -self.b.sdf(x))

    def _rules(self):  # A's pieces outside B (shared ones if the inward step is outside B), B's inside A
        return False, True, True, -1.0


class Intersection(_CSG):
    symbol = "&"

    def _box(self):
        return torch.maximum(self.a.low, self.b.low), torch.minimum(self.a.high, self.b.high)

    def sdf(self, x: Tensor) -> Tensor:
        return torch.maximum(self.a.sdf(x), self.b.sdf(x))

    def _rules(self):  # each one's pieces inside the other (shared ones once, from A)
        return True, True, False, -1.0
