"""PNG figures of the inverse problem, on the (x₁, x₂) plane (other coordinates 0 for d > 2):

* ``snapshots.png`` (the HollowNets poster's panels): data, learned density, samples of the
  learned SDE, one column per time (held-out times marked);
* ``drift.png``: learned (red) against true (black) drift arrows over the data;
* ``diffusion.png``: true g₁, g₂ beside the learned ones.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from matplotlib.figure import Figure

from hodphys.sde.density import space_time

if TYPE_CHECKING:
    from hodphys.sde.inverse import InverseFokkerPlanck, SDEModel


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return path


def _box(problem: InverseFokkerPlanck) -> tuple[np.ndarray, np.ndarray]:
    """Low and high corners (2,) of the data in (x₁, x₂), padded by 10 %."""
    pooled = torch.cat(problem.data.samples)[:, :2].double().numpy()
    low, high = np.quantile(pooled, 0.002, axis=0), np.quantile(pooled, 0.998, axis=0)
    pad = 0.1 * (high - low)
    return low - pad, high + pad


def _plane(problem: InverseFokkerPlanck, size: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    low, high = _box(problem)
    gx, gy = np.meshgrid(np.linspace(low[0], high[0], size), np.linspace(low[1], high[1], size))
    points = torch.zeros(size * size, problem.config.dim, dtype=problem.dtype)
    points[:, 0], points[:, 1] = torch.from_numpy(gx.ravel()), torch.from_numpy(gy.ravel())
    return gx, gy, points.to(problem.device)


def _plane_density(problem: InverseFokkerPlanck, model: SDEModel, xy: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """p on the (x₁, x₂) plane: the exact marginal where the model has one (mixture), else the density
    itself (d = 2) or its slice through x₃ = … = 0 (a CNF in d > 2)."""
    if hasattr(model.density, "marginal_log_prob"):
        return model.density.marginal_log_prob(xy, t).exp()
    points = torch.zeros(len(xy), problem.config.dim, dtype=xy.dtype, device=xy.device)
    points[:, :2] = xy
    return model.density(space_time(points, t))[:, 0].exp()


def _shown_columns(problem: InverseFokkerPlanck, most: int = 7) -> list[int]:
    """Indices into [t_0, *eval_times]: t_0, every held-out time, and evenly spread observed ones (≤ ``most``)."""
    times = [float(problem.data.times[0]), *problem.eval_times]
    held = [j for j, t in enumerate(times) if j and t not in problem.data.times.tolist()]
    others = [j for j in range(1, len(times)) if j not in held]
    keep = max(most - 1 - len(held), 1)
    spread = others if len(others) <= keep else [others[round(k * (len(others) - 1) / max(keep - 1, 1))]
                                                 for k in range(keep)]
    return sorted({0, *held, *spread})


@torch.no_grad()
def plot_snapshots(problem: InverseFokkerPlanck, model: SDEModel, path: Path) -> Path:
    observed = [float(t) for t in problem.data.times]
    columns = _shown_columns(problem)
    all_times = [observed[0], *problem.eval_times]
    times = [all_times[j] for j in columns]
    samples = problem.learned_samples(model)[columns]
    gx, gy, _ = _plane(problem, 80)
    xy = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], -1)).to(problem.device, problem.dtype)
    fig = Figure(figsize=(2.3 * len(times), 7), layout="constrained")
    axes = fig.subplots(3, len(times), squeeze=False, sharex=True, sharey=True)
    extent = (gx.min(), gx.max(), gy.min(), gy.max())
    for j, (t, column) in enumerate(zip(times, columns)):
        data = problem.data.samples[observed.index(t)] if t in observed else problem.held_out.samples[column - 1]
        data = data[:len(samples[j])]  # as many points as the learned SDE's
        axes[0, j].scatter(data[:, 0], data[:, 1], s=1, alpha=0.4, color="tab:blue")
        axes[0, j].set_title(f"t = {t:g}" + ("" if t in observed else " (held out)"), fontsize=9)
        tt = torch.full((len(xy),), t, dtype=problem.dtype, device=problem.device)
        density = _plane_density(problem, model, xy, tt).reshape(gx.shape).cpu().numpy()
        axes[1, j].imshow(density, origin="lower", extent=extent, aspect="auto", cmap="viridis")
        learned = samples[j].cpu().double().numpy()
        axes[2, j].scatter(learned[:, 0], learned[:, 1], s=1, alpha=0.4, color="tab:red")
        axes[2, j].set_xlabel("x₁")
    for row, label in enumerate(["data", "learned density", "learned SDE samples"]):
        axes[row, 0].set_ylabel(f"{label}\nx₂", fontsize=9)
    axes[0, 0].set_xlim(extent[:2])
    axes[0, 0].set_ylim(extent[2:])
    return _save(fig, path)


@torch.no_grad()
def plot_drift(problem: InverseFokkerPlanck, model: SDEModel, path: Path) -> Path:
    gx, gy, points = _plane(problem, 17)
    true = problem.truth.drift(points.double().cpu())[:, :2].numpy()
    learned = model.drift(points)[:, :2].double().cpu().numpy()
    pooled = torch.cat(problem.data.samples)[:, :2].numpy()
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = fig.subplots()
    ax.scatter(pooled[:, 0], pooled[:, 1], s=1, alpha=0.15, color="gray", label="data (all times)")
    scale = np.abs(true).max() * 12
    ax.quiver(gx, gy, true[:, 0].reshape(gx.shape), true[:, 1].reshape(gx.shape), color="black",
              scale=scale, width=0.004, label="true f")
    ax.quiver(gx, gy, learned[:, 0].reshape(gx.shape), learned[:, 1].reshape(gx.shape), color="tab:red",
              scale=scale, width=0.003, alpha=0.8, label="learned f")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title("drift (x₁, x₂ components)")
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


@torch.no_grad()
def plot_diffusion(problem: InverseFokkerPlanck, model: SDEModel, path: Path) -> Path:
    gx, gy, points = _plane(problem, 60)
    true = problem.truth.diffusion(points.double().cpu())[:, :2].numpy()
    learned = model.diffusion(points)[:, :2].double().cpu().numpy()
    fig = Figure(figsize=(9, 7), layout="constrained")
    axes = fig.subplots(2, 2, squeeze=False)
    extent = (gx.min(), gx.max(), gy.min(), gy.max())
    for i in range(2):
        low, high = min(true[:, i].min(), learned[:, i].min()), max(true[:, i].max(), learned[:, i].max())
        for j, (label, values) in enumerate((("true", true), ("learned", learned))):
            image = axes[i, j].imshow(values[:, i].reshape(gx.shape), origin="lower", extent=extent,
                                      aspect="auto", vmin=low, vmax=high, cmap="viridis")
            axes[i, j].set_title(f"{label} g{i + 1}(x)", fontsize=9)
            axes[i, j].set_xlabel("x₁")
            axes[i, j].set_ylabel("x₂")
            fig.colorbar(image, ax=axes[i, j], fraction=0.046)
    return _save(fig, path)


def write_all(problem: InverseFokkerPlanck, model: SDEModel, run: Any) -> list[Path]:
    return [plot_snapshots(problem, model, run.path("plots", "snapshots.png")),
            plot_drift(problem, model, run.path("plots", "drift.png")),
            plot_diffusion(problem, model, run.path("plots", "diffusion.png"))]
