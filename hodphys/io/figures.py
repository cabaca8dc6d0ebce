"""PNG figures of a run: the loss curve and truth / prediction / |error| panels per output.

Figures are matplotlib.figure.Figure objects, not pyplot ones: nothing needs a display and the
caller's backend and open figures are left alone. Each function writes one file (atomically)
and returns its path.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hodphys.io.runs import atomic_write


def _save(fig: Figure, path: Path) -> Path:
    return atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=110, bbox_inches="tight"))


def plot_loss_curve(path: str | Path, steps: Sequence[int], losses: Sequence[float],
                    stage_starts: dict[str, int] | None = None,
                    errors: tuple[Sequence[int], Sequence[float]] | None = None) -> Path:
    """Loss against step on a log scale, a dashed line where each stage starts, and optionally
    the error metric (steps, values) on a second axis."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.semilogy(steps, losses, lw=1, label="loss")
    for name, start in (stage_starts or {}).items():
        ax.axvline(start, color="gray", ls="--", lw=0.8)
        ax.text(start, ax.get_ylim()[1], f" {name}", va="top", fontsize=8, color="gray")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if errors is not None and len(errors[0]):
        twin = ax.twinx()
        twin.semilogy(errors[0], errors[1], "o-", color="tab:red", ms=3, lw=1, label="rel. L2 error")
        twin.set_ylabel("mean relative L2 error", color="tab:red")
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, Path(path))


def plot_fields(path: str | Path, grid_x: np.ndarray, grid_y: np.ndarray, prediction: np.ndarray,
                truth: np.ndarray | None = None, names: Sequence[str] = ()) -> Path:
    """One column per output k: truth, prediction and |prediction − truth| (HoD-Net Fig. 7 style).

    grid_x, grid_y: (n_y, n_x); prediction, truth: (m, n_y, n_x). Without truth, one row.
    """
    m = prediction.shape[0]
    rows = [("prediction", prediction)]
    if truth is not None:
        rows = [("truth", truth), ("prediction", prediction), ("|error|", np.abs(prediction - truth))]
    fig = Figure(figsize=(2.2 * m + 0.6, 2.1 * len(rows)))
    axes = fig.subplots(len(rows), m, squeeze=False)
    extent = (grid_x.min(), grid_x.max(), grid_y.min(), grid_y.max())
    for k in range(m):
        shared = (min(truth[k].min(), prediction[k].min()), max(truth[k].max(), prediction[k].max())) \
            if truth is not None else (prediction[k].min(), prediction[k].max())
        for row, (label, values) in enumerate(rows):
            ax = axes[row, k]
            limits = shared if label != "|error|" else (0, values[k].max())
            image = ax.imshow(values[k], origin="lower", extent=extent, cmap="viridis" if label != "|error|"
                              else "magma", vmin=limits[0], vmax=limits[1], aspect="equal")
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03, format="%.0e" if label == "|error|" else None
                         ).ax.tick_params(labelsize=6)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(names[k] if k < len(names) else f"output {k}", fontsize=9)
            if k == 0:
                ax.set_ylabel(label, fontsize=9)
    return _save(fig, Path(path))
