"""Boundary, initial and data conditions: each its own points, mean, weight and logged loss term.

Glossary: N points of a condition, d inputs, k chosen output components. A condition lives on a
named boundary part of the geometry (``on``), constrains chosen outputs (``components``: names
or indices, default all) and adds ``weight · mean_{N,k} r²`` to the loss under its ``name``:

    Dirichlet(value, on)            r = u − g
    Neumann(value, on)              r = ∂u/∂n − g           (n the unit outward normal)
    Robin(alpha, beta, value, on)   r = α u + β ∂u/∂n − g
    Periodic(axis or parts, shift)  r = u(x) − u(x + s), x on one part, x + s on the matching one (and ∂u/∂s)
    Initial(value, derivative=0/1)  r = u − g  or  ∂u/∂t − g  at t = t0 (the part "initial")
    Observations(points, values)    r = u(x_j) − y_j at fixed points

``value`` is a float or a function of x (N, d) returning (N, k), (N, 1) or (N,).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from hodphys.pinn.geometry.primitives import face_name

Value = float | Callable[[Tensor], Tensor]


class Condition:
    """Base: binds to a problem (checks part and components), samples its points, computes r."""

    kind = "condition"
    uses_normals = False  # Neumann and Robin keep the outward normals of their points

    def __init__(self, on: str = "boundary", components: Sequence[int | str] | None = None,
                 weight: float = 1.0, points: int | None = None, name: str | None = None):
        if not weight >= 0:
            raise ValueError(f"{type(self).__name__}: expected a weight ≥ 0, got {weight}")
        self.on, self.requested, self.weight, self.points = on, components, float(weight), points
        self.name = name or re.sub(r"\W+", "_", f"{self.kind}_{on}").strip("_")
        self.components: list[int] = []

    def bind(self, problem) -> None:
        """Resolve components against the problem's outputs and check the boundary part exists."""
        names = problem.names
        chosen = list(range(len(names))) if self.requested is None else list(self.requested)
        resolved = []
        for c in chosen:
            k = names.index(c) if isinstance(c, str) and c in names else c
            if isinstance(k, str) or not 0 <= k < len(names):
                raise ValueError(f"{type(self).__name__} {self.name!r}: component {c!r} is out of range; the "
                                 f"problem has outputs {names} (indices 0 … {len(names) - 1})")
            resolved.append(k)
        self.components = resolved
        self._check_part(problem)
        if self.points is None:
            self.points = problem.config.n_boundary

    def _check_part(self, problem) -> None:
        problem.geometry.pieces_of(self.on)

    def sample(self, problem, generator: torch.Generator) -> dict[str, Tensor]:
        x, normals = problem.geometry.sample_boundary(self.points, generator, self.on, problem.sampling)
        return {self.name: x, f"{self.name}_normals": normals} if self.uses_normals else {self.name: x}

    def residual(self, problem, model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def loss(self, problem, model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        return self.residual(problem, model, batch).square().mean()

    def target(self, value: Value, x: Tensor) -> Tensor:
        """g at x as (N, k)."""
        k = len(self.components)
        if not callable(value):
            return x.new_full((x.shape[0], k), float(value))
        g = value(x)
        g = torch.as_tensor(g, dtype=x.dtype, device=x.device)
        if g.ndim == 1 and g.shape[0] == x.shape[0]:
            g = g[:, None]
        if g.ndim != 2 or g.shape[0] != x.shape[0] or g.shape[1] not in (1, k):
            raise ValueError(f"{type(self).__name__} {self.name!r}: the value function must return (N, {k}) for "
                             f"N = {x.shape[0]} points, got shape {tuple(g.shape)}")
        return g.expand(x.shape[0], k)

    def _values(self, problem, model: nn.Module, x: Tensor) -> Tensor:
        return problem.network(model)(x)[:, self.components]

    def _normal_derivative(self, problem, model: nn.Module, x: Tensor, normals: Tensor) -> Tensor:
        """∂u_k/∂n = Σ_i n_i ∂u_k/∂x_i, (N, k), from one hp.partials call."""
        names, inputs = problem.names, problem.inputs
        spec = [f"{names[k]}_{i}" for k in self.components for i in inputs]
        d = problem.partials(model, x, spec)
        grads = torch.cat([d[s] for s in spec], -1).view(x.shape[0], len(self.components), len(inputs))
        return (grads * normals[:, None, :]).sum(-1)


class _WithValue(Condition):
    def __init__(self, value: Value = 0.0, on: str = "boundary", **kwargs):
        super().__init__(on, **kwargs)
        self.value = value

    def sample(self, problem, generator):
        out = super().sample(problem, generator)
        out[f"{self.name}_values"] = self.target(self.value, out[self.name])
        return out


class Dirichlet(_WithValue):
    kind = "dirichlet"

    def residual(self, problem, model, batch):
        x = batch[self.name]
        return self._values(problem, model, x) - batch[f"{self.name}_values"]


class Neumann(_WithValue):
    kind = "neumann"
    uses_normals = True

    def residual(self, problem, model, batch):
        x, normals = batch[self.name], batch[f"{self.name}_normals"]
        return self._normal_derivative(problem, model, x, normals) - batch[f"{self.name}_values"]


class Robin(_WithValue):
    kind = "robin"
    uses_normals = True

    def __init__(self, alpha: float, beta: float, value: Value = 0.0, on: str = "boundary", **kwargs):
        super().__init__(value, on, **kwargs)
        self.alpha, self.beta = float(alpha), float(beta)

    def residual(self, problem, model, batch):
        x, normals = batch[self.name], batch[f"{self.name}_normals"]
        flux = self._normal_derivative(problem, model, x, normals)
        return self.alpha * self._values(problem, model, x) + self.beta * flux - batch[f"{self.name}_values"]


class Initial(_WithValue):
    """u = g (derivative=0) or ∂u/∂t = g (derivative=1) at t = t0 (time is the last input)."""

    kind = "initial"

    def __init__(self, value: Value = 0.0, derivative: int = 0, **kwargs):
        if derivative not in (0, 1):
            raise ValueError(f"Initial: expected derivative 0 (u) or 1 (∂u/∂t), got {derivative}")
        kwargs.setdefault("name", "initial" if derivative == 0 else "initial_rate")
        super().__init__(value, kwargs.pop("on", "initial"), **kwargs)
        self.derivative = derivative

    def residual(self, problem, model, batch):
        x = batch[self.name]
        if self.derivative == 0:
            return self._values(problem, model, x) - batch[f"{self.name}_values"]
        t = problem.inputs[-1]
        spec = [f"{problem.names[k]}_{t}" for k in self.components]
        d = problem.partials(model, x, spec)
        return torch.cat([d[s] for s in spec], -1) - batch[f"{self.name}_values"]


class Periodic(Condition):
    """u (and ∂u/∂s along the shift s) equal at x on part ``parts[0]`` and at x + s on ``parts[1]``.

    ``axis`` (a name or index) gives the default parts, the two faces of the box across that axis
    ("left"/"right", "bottom"/"top", …), and the default shift s = (high_a − low_a)·e_a of the
    geometry's bounding box; any geometry with two named parts related by a translation works (an
    L-shape's or a box-with-hole's outer faces, a space × time domain's side walls, mesh facets):
    give ``parts=("inlet", "outlet")`` and, when it is not along an axis, ``shift`` (d,). At binding,
    points of the first part moved by s must land on the boundary facing the other way, and the
    second's moved by −s too; a mismatch is a ValueError naming both parts.
    """

    kind = "periodic"
    MATCH_POINTS = 256  # points checked at binding

    def __init__(self, axis: int | str | None = None, derivative: bool = False,
                 parts: tuple[str, str] | None = None, shift: Sequence[float] | None = None, **kwargs):
        if axis is None and (parts is None or shift is None):
            raise ValueError("Periodic: expected an axis, or both parts=(source, target) and shift=(d,)")
        super().__init__(kwargs.pop("on", f"axis {axis}" if parts is None else f"{parts[0]} {parts[1]}"), **kwargs)
        self.axis, self.derivative, self.pair = axis, derivative, parts
        self.shift = None if shift is None else torch.as_tensor(shift, dtype=torch.float64)

    def _check_part(self, problem) -> None:
        names, geometry = problem.inputs, problem.geometry
        if self.axis is not None:
            axis = names.index(self.axis) if isinstance(self.axis, str) and self.axis in names else self.axis
            if isinstance(axis, str) or not 0 <= axis < len(names):
                raise ValueError(f"Periodic: axis {self.axis!r} is not an input; inputs are {names}")
            self.axis = axis
            if self.shift is None:
                self.shift = torch.zeros(geometry.dim, dtype=torch.float64)
                self.shift[axis] = float(geometry.high[axis] - geometry.low[axis])
            self.pair = self.pair or (face_name(axis, False), face_name(axis, True))
        if self.shift.shape != (geometry.dim,):
            raise ValueError(f"Periodic: expected shift of shape ({geometry.dim},), got {tuple(self.shift.shape)}")
        self._check_match(geometry)

    def _check_match(self, geometry) -> None:
        """Each part moved by ±s lands on the boundary with the opposite outward normal: just inside
        along its own normal n, just outside along −n (checked with ``contains``, which every geometry has)."""
        generator = torch.Generator().manual_seed(0)
        eps = 1e-6 * (1.0 + float(self.shift.norm()))
        for part, step in ((self.pair[0], self.shift), (self.pair[1], -self.shift)):
            x, normals = geometry.sample_boundary(self.MATCH_POINTS, generator, part)
            moved = x + step
            landed = geometry.contains(moved) & geometry.contains(moved + eps * normals) \
                & ~geometry.contains(moved - eps * normals)
            if not bool(landed.all()):
                first = moved[~landed][0].tolist()
                raise ValueError(f"Periodic: part {part!r} moved by {step.tolist()} does not land on a matching "
                                 f"boundary (e.g. at {[round(v, 6) for v in first]}): parts {self.pair[0]!r} and "
                                 f"{self.pair[1]!r} are not related by that translation; give matching parts= "
                                 f"and shift=")

    def sample(self, problem, generator):
        x = problem.geometry.sample_boundary(self.points, generator, self.pair[0], problem.sampling)[0]
        return {self.name: x, f"{self.name}_pair": x + self.shift}

    def residual(self, problem, model, batch):
        low, high = batch[self.name], batch[f"{self.name}_pair"]
        r = [self._values(problem, model, low) - self._values(problem, model, high)]
        if self.derivative:
            direction = (self.shift / self.shift.norm()).to(low)
            r.append(self._normal_derivative(problem, model, low, direction.expand_as(low))
                     - self._normal_derivative(problem, model, high, direction.expand_as(high)))
        return torch.cat(r, -1)


class Observations(Condition):
    """u_k(x_j) = y_j at fixed points x (N, d), values y (N, k) (e.g. measurements of an inverse problem)."""

    kind = "observations"

    def __init__(self, points: Tensor, values: Tensor, **kwargs):
        kwargs.setdefault("name", "data")
        super().__init__(kwargs.pop("on", "points"), **kwargs)
        self.x, self.y = torch.as_tensor(points), torch.as_tensor(values)

    def _check_part(self, problem) -> None:
        k, d = len(self.components), problem.geometry.dim
        if self.x.ndim != 2 or self.x.shape[1] != d or self.y.shape != (self.x.shape[0], k):
            raise ValueError(f"Observations {self.name!r}: expected points (N, {d}) and values (N, {k}), got "
                             f"{tuple(self.x.shape)} and {tuple(self.y.shape)}")

    def sample(self, problem, generator):
        return {self.name: self.x.to(problem.dtype), f"{self.name}_values": self.y.to(problem.dtype)}

    def residual(self, problem, model, batch):
        return self._values(problem, model, batch[self.name]) - batch[f"{self.name}_values"]
