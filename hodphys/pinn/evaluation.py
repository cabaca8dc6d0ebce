"""Where a PINN's error is measured and the metrics written to metrics.json.

Evaluation points: the reference table's points when the problem has one (Cole–Hopf, finite
differences …); else a grid over the bounding box restricted to the domain for d ≤ 2 (the
``grid_size``² grid of the (x₁, x₂) plane; grid_size·10 points for d = 1), and ``eval_points``
fixed random interior points for d > 2. Metric: relative L2 error ‖u_k − u*_k‖/‖u*_k‖ per output.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

EVAL_SEED = 7919  # evaluation points: a stream apart from the training one


def plane(problem, size: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """A size×size grid on the (x₁, x₂) plane through the centre of the bounding box:
    (X, Y (size, size), points (size², d)) — X along columns."""
    size = size or problem.config.grid_size
    low, high = problem.geometry.low, problem.geometry.high
    axes = [torch.linspace(float(low[i]), float(high[i]), size, dtype=torch.float64) for i in (0, 1)]
    grid_x, grid_y = torch.meshgrid(*axes, indexing="xy")
    points = ((low + high) / 2).repeat(size * size, 1)
    points[:, 0], points[:, 1] = grid_x.flatten(), grid_y.flatten()
    return grid_x, grid_y, problem._to(points)


def line(problem, size: int | None = None) -> Tensor:
    """Points along x₁ of a 1-D domain (size, 1)."""
    low, high = problem.geometry.low, problem.geometry.high
    return problem._to(torch.linspace(float(low[0]), float(high[0]), size or 10 * problem.config.grid_size,
                                      dtype=torch.float64)[:, None])


def points(problem) -> Tensor:
    """The evaluation points (module doc), inside the domain."""
    if problem.reference is not None:
        return problem._to(torch.as_tensor(problem.reference[0]))
    dim = problem.geometry.dim
    if dim == 1:
        return line(problem)
    if dim == 2:
        x = plane(problem)[2]
        return x[problem.geometry.contains(x.double())]
    generator = torch.Generator().manual_seed(problem.config.seed + EVAL_SEED)
    return problem.sample_interior(problem.config.eval_points, generator)


def truth_at(problem, x: Tensor) -> Tensor | None:
    """The reference at the evaluation points (N, m), or None without one."""
    if problem.reference is not None:
        values = problem._to(torch.as_tensor(problem.reference[1]))
        return problem._checked("reference", x, values)
    exact = problem.exact(x)
    return None if exact is None else problem._checked("exact", x, exact)


def metrics(problem, model: nn.Module) -> dict[str, Any]:
    """rel_l2 per output, their mean and max; trainable coefficients' values."""
    out: dict[str, Any] = {}
    coefficients = getattr(model, "coefficients", None)
    if coefficients is not None:
        out.update({f"coefficient_{k}": float(v.detach()) for k, v in coefficients.items()})
    x = points(problem)
    truth = truth_at(problem, x)
    if truth is None:
        return out
    error = (problem.predict(model, x) - truth).norm(dim=0) / truth.norm(dim=0)
    per_output = [float(e) for e in error]
    out.update({"rel_l2_mean": sum(per_output) / len(per_output), "rel_l2_max": max(per_output),
                "rel_l2": per_output})
    return out
