"""Space × time: Ω × [t0, t1] with time the last coordinate.

Its boundary parts are those of Ω (× (t0, t1], normals (n_Ω, 0)) — together "boundary" — and
the faces "initial" (t = t0, alias ``"t == <t0>"``, e.g. "t == 0") and "final" (t = t1), which are
not part of "boundary". The signed distance is max(sdf_Ω, distance to [t0, t1]).
"""
from __future__ import annotations

import torch
from torch import Tensor

from hodphys.pinn.geometry.base import Geometry, Piece, unit_cube


class SpaceTime(Geometry):
    """Ω × [t0, t1] ⊂ R^(d+1)."""

    def __init__(self, space: Geometry, t0: float, t1: float):
        if not isinstance(space, Geometry) or not t0 < t1:
            raise ValueError(f"SpaceTime: expected a geometry and t0 < t1, got {type(space).__name__}, {t0}, {t1}")
        self.space, self.t0, self.t1 = space, float(t0), float(t1)
        self.dim = space.dim + 1
        self.low = torch.cat([space.low, torch.tensor([self.t0], dtype=torch.float64)])
        self.high = torch.cat([space.high, torch.tensor([self.t1], dtype=torch.float64)])

    def sdf(self, x: Tensor) -> Tensor:
        t = x[:, -1].double()
        in_time = torch.maximum(self.t0 - t, t - self.t1)
        space = self.space.sdf(x[:, :-1])
        return torch.maximum(space, in_time) if space is not None else None

    def contains(self, x: Tensor, tolerance: float = 1e-9) -> Tensor:
        t = x[:, -1].double()
        return self.space.contains(x[:, :-1], tolerance) & (t >= self.t0 - tolerance) & (t <= self.t1 + tolerance)

    def volume(self) -> float:
        return self.space.volume() * (self.t1 - self.t0)

    def _times(self, n: int, generator: torch.Generator, method: str) -> Tensor:
        return self.t0 + (self.t1 - self.t0) * unit_cube(n, 1, generator, method)

    def sample_interior(self, n: int, generator: torch.Generator, method: str = "uniform") -> Tensor:
        return torch.cat([self.space.sample_interior(n, generator, method), self._times(n, generator, method)], -1)

    def pieces(self) -> list[Piece]:
        span = self.t1 - self.t0
        pieces = [Piece(p.name, p.measure * span, self._side(p), True, p.aliases) for p in self.space.pieces()]
        for name, t, sign in (("initial", self.t0, -1.0), ("final", self.t1, 1.0)):
            pieces.append(Piece(name, self.space.volume(), self._face(t, sign), False, (f"t == {t:g}",)))
        return pieces

    def _side(self, piece: Piece):
        def sample(n: int, generator: torch.Generator, method: str) -> tuple[Tensor, Tensor]:
            x, normal = piece.sample(n, generator, method)
            zero = torch.zeros(n, 1, dtype=torch.float64)
            return torch.cat([x, self._times(n, generator, method)], -1), torch.cat([normal, zero], -1)
        return sample

    def _face(self, t: float, sign: float):
        def sample(n: int, generator: torch.Generator, method: str) -> tuple[Tensor, Tensor]:
            x = self.space.sample_interior(n, generator, method)
            normal = torch.zeros(n, self.dim, dtype=torch.float64)
            normal[:, -1] = sign
            return torch.cat([x, torch.full((n, 1), t, dtype=torch.float64)], -1), normal
        return sample
