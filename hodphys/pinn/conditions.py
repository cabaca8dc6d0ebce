"""Boundary, initial and data conditions: each its own points, mean, weight and logged loss term.

Glossary: N points of a condition, d inputs, k chosen output components. A condition lives on a
named boundary part of the geometry (``on``), constrains chosen outputs (``components``: names
or indices, default all) and adds ``weight · mean_{N,k} r²`` to the loss under its ``name``:

    Dirichlet(value, on)            r = u − g
    Neumann(value, on)              r = ∂u/∂n − g           (n the unit outward normal)
    Robin(alpha, beta, value, on)   r = α u + β ∂u/∂n − g
    Periodic(axis)                  r = u(x|x_a=low) − u(x|x_a=high)   (and ∂u/∂x_a with derivative=True)
    Initial(value, derivative=0/1)  r = u − g  or  ∂u/∂t − g  at t = t0 (the part "initial")
    Observations(points, values)    r = u(x_j) − y_j at fixed points

``value`` is a float or a function of x (N, d) returning (N, k), (N, 1) or (N,).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

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
    """u (and ∂u/∂x_a) equal on the two faces x_a = low_a and x_a = high_a of the bounding box."""

    kind = "periodic"

    def __init__(self, axis: int | str, derivative: bool = False, **kwargs):
        super().__init__(kwargs.pop("on", f"axis {axis}"), **kwargs)
        self.axis, self.derivative = axis, derivative

    def _check_part(self, problem) -> None:
        names = problem.inputs
        axis = names.index(self.axis) if isinstance(self.axis, str) and self.axis in names else self.axis
        if isinstance(axis, str) or not 0 <= axis < len(names):
            raise ValueError(f"Periodic: axis {self.axis!r} is not an input; inputs are {names}")
        self.axis = axis

    def sample(self, problem, generator):
        geometry = problem.geometry
        x = geometry.sample_interior(self.points, generator, problem.sampling)
        low, high = x.clone(), x.clone()
        low[:, self.axis], high[:, self.axis] = geometry.low[self.axis], geometry.high[self.axis]
        return {self.name: low, f"{self.name}_pair": high}

    def residual(self, problem, model, batch):
        low, high = batch[self.name], batch[f"{self.name}_pair"]
        r = [self._values(problem, model, low) - self._values(problem, model, high)]
        if self.derivative:
            spec = [f"{problem.names[k]}_{problem.inputs[self.axis]}" for k in self.components]
            a, b = problem.partials(model, low, spec), problem.partials(model, high, spec)
            r.append(torch.cat([a[s] - b[s] for s in spec], -1))
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
