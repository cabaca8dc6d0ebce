"""Matplotlib figures of simulation time series.

Figures are made with matplotlib.figure.Figure, not pyplot: no display is needed and the
caller's backend and open figures are left alone.

Index letters: t time points, k curves.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def plot_time_series(path: str | Path, times: np.ndarray,
                     panels: dict[str, dict[str, np.ndarray]], title: str = "") -> Path:
    """One panel per entry of ``panels`` (its y-axis label → {legend label: values (t,)}),
    stacked over a shared time axis; saved as PNG at ``path``."""
    for label, curves in panels.items():
        for name, values in curves.items():
            if values.shape != times.shape:
                raise ValueError(f"plot_time_series: expected {label!r} / {name!r} of shape "
                                 f"{times.shape} (like times), got {values.shape}")
    figure = Figure(figsize=(8, 2.6 * len(panels)))
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)
    for axis, (label, curves) in zip(axes[:, 0], panels.items()):
        for name, values in curves.items():
            axis.plot(times, values, label=name)
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        if len(curves) > 1:
            axis.legend(loc="best", fontsize="small")
    axes[-1, 0].set_xlabel("time [s]")
    if title:
        axes[0, 0].set_title(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path
