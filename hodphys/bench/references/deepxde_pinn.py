"""A hodphys PINN problem as DeepXDE 1.15 trains it (optional extra ``bench``; PyTorch backend).

:func:`train` builds the DeepXDE counterpart of a :class:`hodphys.pinn.Problem` — the same
geometry, PDE residual (``problem.pde`` on partials from ``dde.grad``), conditions with the same
weights, network layout d → widths → m, point counts and optimizer budget — and trains it with
DeepXDE's own ``dde.Model``: Glorot-normal initialisation, Adam with the problem's exponential
learning-rate decay (lr → lr_final), interior points redrawn every ``resample_every`` steps
(``PDEPointResampler``; its boundary points stay fixed: DeepXDE refuses to redraw them when the
count per condition changes, as it does on a face of a random boundary sample), then L-BFGS
(history ``lbfgs_history``) on ``finetune_points`` fixed interior points.
Used by :mod:`hodphys.bench.studies.pinn_accuracy`.

Translated: geometries Interval, Box (2-D, 3-D), Polygon and SpaceTime of those; conditions
Dirichlet, Neumann, Initial (value and rate), Observations, on "boundary", a box face or
``initial``. Anything else is a ValueError naming it.
"""
from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hodphys.partials import combined
from hodphys.pinn.conditions import Condition, Dirichlet, Initial, Neumann, Observations
from hodphys.pinn.geometry import Box, Polygon, SpaceTime
from hodphys.pinn.geometry.primitives import face_name


def _dde():
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    default = torch.get_default_dtype()
    import deepxde as dde

    torch.set_default_dtype(default)  # importing DeepXDE sets torch's default dtype: put it back
    return dde


def geometry(geom) -> Any:
    """The DeepXDE geometry of a hodphys one."""
    dde = _dde()
    if isinstance(geom, SpaceTime):
        return dde.geometry.GeometryXTime(geometry(geom.space), dde.geometry.TimeDomain(geom.t0, geom.t1))
    if isinstance(geom, Box):
        low, high = geom.low.tolist(), geom.high.tolist()
        kinds = {1: lambda: dde.geometry.Interval(low[0], high[0]), 2: lambda: dde.geometry.Rectangle(low, high),
                 3: lambda: dde.geometry.Cuboid(low, high)}
        if geom.dim in kinds:
            return kinds[geom.dim]()
    if isinstance(geom, Polygon):
        return _real_boundary(dde.geometry.Polygon(geom.vertices.tolist()))
    raise ValueError(f"deepxde_pinn: no DeepXDE translation of the geometry {type(geom).__name__}")


def _real_boundary(geom):
    """DeepXDE 1.15's Polygon returns float64 boundary points under float32: cast them to its dtype."""
    real = _dde().config.real(np)
    for name in ("random_boundary_points", "uniform_boundary_points"):
        sample = getattr(geom, name)
        setattr(geom, name, lambda n, *args, sample=sample, **kwargs: sample(n, *args, **kwargs).astype(real))
    return geom


def _on_part(problem, part: str):
    """DeepXDE's boundary predicate for a part: all of the spatial boundary, or one box face."""
    if part == "boundary":
        return lambda x, on: on
    space = problem.geometry.space if isinstance(problem.geometry, SpaceTime) else problem.geometry
    for axis in range(space.dim if isinstance(space, Box) else 0):
        for high, bound in ((False, space.low), (True, space.high)):
            if face_name(axis, high) == part:
                value = float(bound[axis])
                return lambda x, on, a=axis, v=value: on and np.isclose(x[a], v)
    raise ValueError(f"deepxde_pinn: no DeepXDE translation of the boundary part {part!r}")


def _values(condition: Condition, j: int):
    """g_j as DeepXDE calls it: numpy x (N, d) → numpy (N, 1)."""
    return lambda x: condition.target(condition.value, torch.as_tensor(x))[:, j:j + 1].numpy()


def conditions(problem, geom) -> tuple[list, list[float]]:
    """DeepXDE's BCs/ICs for the problem's conditions (one per component) and their loss weights: a
    condition's weight split over its k components (DeepXDE sums k per-component means where
    hodphys takes one mean over the (N, k) residual)."""
    dde = _dde()
    out, weights = [], []
    for c in problem.conditions:
        for j, k in enumerate(c.components):
            if isinstance(c, Initial) and c.derivative == 1:
                t0, g = problem.geometry.t0, (lambda x, c=c, j=j: c.target(c.value, x)[:, j:j + 1])
                out.append(dde.icbc.OperatorBC(
                    geom, lambda x, y, _, k=k, g=g: dde.grad.jacobian(y, x, i=k, j=x.shape[1] - 1) - g(x),
                    lambda x, _, t0=t0: np.isclose(x[-1], t0)))
            elif isinstance(c, Initial):
                out.append(dde.icbc.IC(geom, _values(c, j), lambda _, on_initial: on_initial, component=k))
            elif isinstance(c, (Dirichlet, Neumann)):
                kind = dde.icbc.DirichletBC if isinstance(c, Dirichlet) else dde.icbc.NeumannBC
                out.append(kind(geom, _values(c, j), _on_part(problem, c.on), component=k))
            elif isinstance(c, Observations):
                out.append(dde.icbc.PointSetBC(c.x.numpy(), c.y[:, j:j + 1].numpy(), component=k))
            else:
                raise ValueError(f"deepxde_pinn: no DeepXDE translation of the condition {type(c).__name__}")
            weights.append(c.weight / len(c.components))  # hodphys averages a term over its k components
    return out, weights


def pde(problem, variables: dict[str, Tensor]):
    """DeepXDE's ``pde(x, y)``: the problem's residual on partials from ``dde.grad``."""
    dde = _dde()
    plan = problem.pde_plan(variables)

    def partial(x: Tensor, y: Tensor, term: tuple) -> Tensor:
        kind, k = term[0], term[1]
        if kind == "value":
            return y[:, k:k + 1]
        if kind == "first":
            return dde.grad.jacobian(y, x, i=k, j=term[2])
        if kind == "second":
            return dde.grad.hessian(y, x, component=k, i=term[2], j=term[3])
        return sum(dde.grad.hessian(y, x, component=k, i=i, j=i) for i in plan.spatial)

    def residual(x: Tensor, y: Tensor) -> Tensor:
        fields = {"points": x, **{n: x[:, i:i + 1] for i, n in enumerate(problem.inputs)}, **variables}
        fields.update(combined(plan, lambda p: {name: partial(x, y, term) for name, term in p.terms.items()}))
        return problem.pde(fields)

    return residual


def _data(problem, geom, pde_fn, bcs, n_interior: int):
    dde, config = _dde(), problem.config
    if isinstance(problem.geometry, SpaceTime):
        return dde.data.TimePDE(geom, pde_fn, bcs, num_domain=n_interior, num_boundary=config.n_boundary,
                                num_initial=config.n_boundary)
    return dde.data.PDE(geom, pde_fn, bcs, num_domain=n_interior, num_boundary=config.n_boundary)


def train(problem) -> tuple[nn.Module, dict[str, float], float]:
    """Train the problem with DeepXDE at its config's budget: (network, coefficient values, CPU seconds)."""
    default = torch.get_default_dtype()
    try:
        return _train(problem)
    finally:
        torch.set_default_dtype(default)  # DeepXDE's set_default_float changes torch's default dtype


def _train(problem) -> tuple[nn.Module, dict[str, float], float]:
    dde, config = _dde(), problem.config
    if problem.pde is None or problem.input_transform is not None or problem.output_transform is not None:
        raise ValueError("deepxde_pinn: only problems with pde= and no transforms are translated")
    dde.config.set_default_float(config.dtype)
    dde.config.set_random_seed(config.seed)
    variables = {k: dde.Variable(float(v)) for k, v in problem.coefficients.items()}
    geom = geometry(problem.geometry)
    bcs, weights = conditions(problem, geom)
    pde_fn = pde(problem, variables)
    net = dde.nn.FNN([problem.geometry.dim, *config.widths, problem.outputs], config.activation, "Glorot normal")
    start = time.process_time()
    model = dde.Model(_data(problem, geom, pde_fn, bcs, config.n_interior), net)
    extra = {"external_trainable_variables": list(variables.values())} if variables else {}
    weights = [1.0, *weights]
    if config.adam_steps:
        gamma = (config.lr_final / config.lr) ** (1 / config.adam_steps)
        model.compile("adam", lr=config.lr, decay=("exponential", gamma), loss_weights=weights, **extra)
        resample = [dde.callbacks.PDEPointResampler(config.resample_every)] \
            if config.resample_every else []
        model.train(iterations=config.adam_steps, display_every=10 ** 9, callbacks=resample, verbose=0)
    if config.optimizer == "lbfgs" and config.optimizer_steps:
        model = dde.Model(_data(problem, geom, pde_fn, bcs, config.finetune_points or config.n_interior), net)
        dde.optimizers.set_LBFGS_options(maxcor=config.lbfgs_history, maxiter=config.optimizer_steps)
        model.compile("L-BFGS", loss_weights=weights, **extra)
        model.train(display_every=10 ** 9, verbose=0)
    seconds = time.process_time() - start
    return net, {k: float(v.detach()) for k, v in variables.items()}, seconds
