"""What a PINN run writes besides metrics: plots a person reads at a glance, and fields for ParaView.

* always: ``plots/loss.png`` (loss per step, stages marked, the error metric);
* 1-D: ``plots/solution.png`` — u(x) beside the reference;
* 1-D + time: ``plots/fields.png`` — reference / prediction / |error| maps over (x, t), labelled
  axes — and ``plots/snapshots.png`` — u(x, t_k) against the reference at four times; ``fields.vtu``;
* 2-D (and the (x₁, x₂) plane of d > 3 boxes): ``plots/fields.png`` masked to the domain (points
  outside are blank, not NaN in a colour scale), axes labelled; ``fields.vtu`` on the grid with an
  ``inside`` indicator;
* 3-D: ``fields.vtu`` — prediction, reference and error at the grid points inside the domain.
PNGs only with the config's ``plots`` on.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from hodphys.io.figures import plot_loss_curve
from hodphys.io.grid import write_grid_vtu
from hodphys.io.runs import Run
from hodphys.pinn import evaluation
from hodphys.pinn.geometry import SpaceTime

SNAPSHOTS = 4


def write(problem, model: nn.Module, run: Run, stages: dict[str, list[int]] | None) -> list[Path]:
    """Every file of the module doc that fits the problem's dimension."""
    written = [_plot_history(run, stages)] if problem.config.plots else []
    dim = problem.geometry.dim
    if dim == 1:
        return written + _line(problem, model, run)
    if dim == 3 and not isinstance(problem.geometry, SpaceTime):
        return written + [_cloud_vtu(problem, model, run)]
    return written + _plane(problem, model, run)


def _numpy(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().double().numpy()


def _truth(problem, x: torch.Tensor) -> torch.Tensor | None:
    if problem.reference is not None:
        return None  # a table is only known at its own points
    return evaluation.truth_at(problem, x)


def _line(problem, model: nn.Module, run: Run) -> list[Path]:
    if not problem.config.plots:
        return []
    x = evaluation.line(problem)
    prediction, truth = _numpy(problem.predict(model, x)), _numpy(_truth(problem, x))
    fig = Figure(figsize=(4.2 * problem.outputs, 3.2))
    for k, ax in enumerate(fig.subplots(1, problem.outputs, squeeze=False)[0]):
        if truth is not None:
            ax.plot(_numpy(x)[:, 0], truth[:, k], "k-", lw=2.5, alpha=0.4, label="reference")
        ax.plot(_numpy(x)[:, 0], prediction[:, k], "C0--", label="PINN")
        ax.set_xlabel(problem.inputs[0])
        ax.set_ylabel(problem.names[k])
        ax.legend(fontsize=8)
    return [_save(fig, run.path("plots", "solution.png"))]


def _plane(problem, model: nn.Module, run: Run) -> list[Path]:
    table = _table_grid(problem)
    grid_x, grid_y, points = table[:3] if table is not None else evaluation.plane(problem)
    shape = (problem.outputs, *grid_x.shape)
    inside = problem.geometry.contains(points.double()).reshape(grid_x.shape).cpu().numpy()
    prediction = _numpy(problem.predict(model, points)).T.reshape(shape)
    reference = table[3] if table is not None else None
    truth = _truth(problem, points[problem.geometry.contains(points.double())])
    if truth is not None:
        reference = np.full(shape, np.nan)
        reference[:, inside] = _numpy(truth).T
    written = []
    if problem.config.plots:
        written.append(_maps(problem, grid_x.numpy(), grid_y.numpy(), inside, prediction, reference,
                             run.path("plots", "fields.png")))
        if isinstance(problem.geometry, SpaceTime) and problem.geometry.dim == 2:
            written.append(_snapshots(problem, model, run))
    fields = {"inside": inside.astype(float)}
    for k, name in enumerate(problem.names):
        fields[name] = np.where(inside, prediction[k], np.nan)
        if reference is not None:
            fields[f"{name}_exact"], fields[f"{name}_error"] = reference[k], np.abs(prediction[k] - reference[k])
    written.append(write_grid_vtu(run.path("fields.vtu"), grid_x.numpy(), grid_y.numpy(), fields))
    return written


def _table_grid(problem):
    """A 2-D reference table on (part of) a tensor grid as (X, Y, points, values (m, n_y, n_x)),
    NaN where the table has no row; None without a table or when it is scattered."""
    if problem.reference is None or problem.geometry.dim != 2:
        return None
    table, values = (torch.as_tensor(t).double() for t in problem.reference)
    xs, ix = table[:, 0].unique(return_inverse=True)
    ys, iy = table[:, 1].unique(return_inverse=True)
    if len(xs) * len(ys) > 4 * len(table):
        return None
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
    grid = np.full((problem.outputs, len(ys), len(xs)), np.nan)
    grid[:, iy.numpy(), ix.numpy()] = values.numpy().T
    points = torch.stack([grid_x.flatten(), grid_y.flatten()], -1)
    return grid_x, grid_y, problem._to(points), grid


def _maps(problem, gx, gy, inside, prediction, reference, path: Path) -> Path:
    """Reference / prediction / |error| per output, masked outside the domain, labelled axes."""
    rows = [("prediction", prediction)]
    if reference is not None:
        rows = [("reference", reference), ("prediction", prediction), ("|error|", np.abs(prediction - reference))]
    m = problem.outputs
    fig = Figure(figsize=(3.4 * m + 0.6, 2.8 * len(rows)))
    axes = fig.subplots(len(rows), m, squeeze=False)
    for k in range(m):
        shown = [np.ma.masked_where(~inside | ~np.isfinite(v[k]), v[k]) for _, v in rows]
        low = min(float(s.min()) for s in shown[:2]) if reference is not None else float(shown[0].min())
        high = max(float(s.max()) for s in shown[:2]) if reference is not None else float(shown[0].max())
        for row, ((label, _), values) in enumerate(zip(rows, shown)):
            ax = axes[row, k]
            error = label == "|error|"
            image = ax.pcolormesh(gx, gy, values, shading="auto", cmap="magma" if error else "viridis",
                                  vmin=0 if error else low, vmax=float(values.max()) if error else high)
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03, format="%.0e" if error else None)
            ax.set_title(f"{label} {problem.names[k]}", fontsize=9)
            ax.set_xlabel(problem.inputs[0])
            ax.set_ylabel(problem.inputs[1])
    return _save(fig, path)


def _snapshots(problem, model: nn.Module, run: Run) -> Path:
    """u(x, t_k) at four times against the reference (the usual Burgers figure)."""
    geometry = problem.geometry
    x = evaluation.line(problem)
    times = np.linspace(geometry.t0, geometry.t1, SNAPSHOTS)
    fig = Figure(figsize=(3.2 * SNAPSHOTS, 3.0 * problem.outputs))
    axes = fig.subplots(problem.outputs, SNAPSHOTS, squeeze=False)
    for j, t in enumerate(times):
        points = torch.cat([x, torch.full_like(x, float(t))], -1)
        prediction, truth = _numpy(problem.predict(model, points)), _table_or_exact(problem, points)
        for k in range(problem.outputs):
            ax = axes[k, j]
            if truth is not None:
                ax.plot(_numpy(x)[:, 0], truth[:, k], "k-", lw=2.5, alpha=0.4, label="reference")
            ax.plot(_numpy(x)[:, 0], prediction[:, k], "C0--", label="PINN")
            ax.set_title(f"{problem.inputs[-1]} = {t:.2f}", fontsize=9)
            ax.set_xlabel(problem.inputs[0])
            ax.set_ylabel(problem.names[k])
    axes[0, 0].legend(fontsize=8)
    return _save(fig, run.path("plots", "snapshots.png"))


def _table_or_exact(problem, points: torch.Tensor) -> np.ndarray | None:
    """The reference at points: exact(x), or the nearest row of the reference table."""
    if problem.reference is None:
        return _numpy(evaluation.truth_at(problem, points))
    table, values = (torch.as_tensor(t).double() for t in problem.reference)
    nearest = torch.cdist(points.double(), table.to(points.device)).argmin(1)
    return _numpy(values[nearest.cpu()])


def _cloud_vtu(problem, model: nn.Module, run: Run) -> Path:
    """The prediction (and reference, error) at the points of a 41³ grid inside a 3-D domain."""
    import meshio

    low, high = problem.geometry.low, problem.geometry.high
    axes = [torch.linspace(float(low[i]), float(high[i]), 41, dtype=torch.float64) for i in range(3)]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    grid = problem._to(grid[problem.geometry.contains(grid)])
    data = {name: _numpy(problem.predict(model, grid))[:, k] for k, name in enumerate(problem.names)}
    truth = _truth(problem, grid)
    if truth is not None:
        for k, name in enumerate(problem.names):
            data[f"{name}_exact"] = _numpy(truth)[:, k]
            data[f"{name}_error"] = np.abs(data[name] - data[f"{name}_exact"])
    path = run.path("fields.vtu")
    cells = [("vertex", np.arange(grid.shape[0])[:, None])]
    meshio.Mesh(_numpy(grid), cells, point_data=data).write(path)
    return path


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _plot_history(run: Run, stages: dict[str, list[int]] | None) -> Path:
    history = _history(run.dir / "metrics.jsonl")
    losses = [(h["step"], h["loss"]) for h in history if "loss" in h]
    errors = [(h["step"], h["rel_l2_mean"]) for h in history if "rel_l2_mean" in h]
    return plot_loss_curve(run.path("plots", "loss.png"), *zip(*losses or [(0, math.nan)]),
                           stage_starts={k: v[0] for k, v in (stages or {}).items()},
                           errors=tuple(zip(*errors)) if errors else None)


def _history(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
