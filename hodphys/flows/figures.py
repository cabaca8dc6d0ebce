"""PNG figures of a CNF run (matplotlib Figure objects: no display needed, pyplot left alone).

* :func:`plot_density` — FFJORD Fig. 2 style: data | learned density p(x) on a grid | samples.
* :func:`plot_digits` — rows of data images above rows of sampled images (8×8).
* :func:`plot_training` — training NLL with validation NLL, and NFE forward/backward, against step.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def plot_density(path: str | Path, data: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray,
                 density: np.ndarray, samples: np.ndarray, title: str = "") -> Path:
    """Three panels on the grid's square: data histogram, p(x) (grid_x, grid_y, density (n, n)), samples.

    data (N, 2) and samples (M, 2) are shown as 2-D histograms with the grid's resolution.
    """
    extent = (grid_x.min(), grid_x.max(), grid_y.min(), grid_y.max())
    bins = [np.linspace(extent[0], extent[1], grid_x.shape[1] + 1),
            np.linspace(extent[2], extent[3], grid_y.shape[0] + 1)]
    figure = Figure(figsize=(12, 4.2))
    axes = figure.subplots(1, 3)
    panels = [(f"data ({len(data)} test points)", np.histogram2d(data[:, 0], data[:, 1], bins)[0].T),
              ("learned density p(x), exact trace", density),
              (f"samples of the flow ({len(samples)})", np.histogram2d(samples[:, 0], samples[:, 1], bins)[0].T)]
    for axis, (label, image) in zip(axes, panels):
        shown = axis.imshow(image, origin="lower", extent=extent, cmap="magma", aspect="equal")
        axis.set_title(label, fontsize=10)
        axis.set_xlabel("x₁")
        axis.set_ylabel("x₂")
        if image is density:
            figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.03, label="p(x)")
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def plot_digits(path: str | Path, data: np.ndarray, samples: np.ndarray, per_row: int = 12,
                title: str = "") -> Path:
    """Two rows of data images (N, 64) above two rows of samples (M, 64), pixel intensities 0 … 16."""
    figure = Figure(figsize=(per_row * 0.8, 4 * 0.9))
    axes = figure.subplots(4, per_row)
    for row, (label, images) in enumerate([("data", data), ("data", data[per_row:]),
                                           ("samples", samples), ("samples", samples[per_row:])]):
        for col in range(per_row):
            axis = axes[row, col]
            axis.imshow(np.clip(images[col].reshape(8, 8), 0, 16), cmap="gray_r", vmin=0, vmax=16)
            axis.set_xticks([])
            axis.set_yticks([])
        axes[row, 0].set_ylabel(label, fontsize=9)
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def plot_training(path: str | Path, curves: dict[str, tuple[np.ndarray, np.ndarray]],
                  ylabel: str, title: str = "") -> Path:
    """One panel: each curve label → (steps, values) against the training step."""
    figure = Figure(figsize=(7, 4))
    axis = figure.subplots()
    for label, (steps, values) in curves.items():
        axis.plot(steps, values, "o-" if len(steps) < 30 else "-", ms=3, lw=1, label=label)
    axis.set_xlabel("training step")
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize="small")
    if title:
        axis.set_title(title)
    return _save(figure, path)
