"""Checkpoints: everything a run needs to continue bit-for-bit, in one atomically written file.

A checkpoint is ``<dir>/step-<step:08d>.pt``, a dict with the model, optimizer and scheduler
states, the step counters, the collocation sampler and the current points, and every RNG
state (torch CPU and CUDA, NumPy, Python). Files are written through
:func:`hodphys.io.runs.atomic_write` (temporary sibling, fsync, rename), so a killed run leaves
either the previous checkpoint or the new one — never a torn file — and :func:`latest_checkpoint`
still skips any file that fails to load.
"""
from __future__ import annotations

import io
import logging
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hodphys.io.runs import atomic_write

PATTERN = re.compile(r"^step-(\d{8})\.pt$")


def rng_state() -> dict[str, Any]:
    """Every global RNG state, as tensors and plain values (loadable with weights_only=True)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached],
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def checkpoint_path(directory: str | Path, step: int) -> Path:
    return Path(directory) / f"step-{step:08d}.pt"


def atomic_save(path: str | Path, obj: Any) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (serialised first: the file is open only for the copy)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def save_checkpoint(directory: str | Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` as the checkpoint of ``step`` and delete all but the newest ``keep``.

    Files of later steps belong to a timeline this run left (a resume fell back past them because
    they did not load): they go first, so they never push the new checkpoint out.
    """
    path = atomic_save(checkpoint_path(directory, step), state)
    for later in _checkpoints(directory):
        if int(PATTERN.match(later.name).group(1)) > step:
            later.unlink(missing_ok=True)
    for old in _checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def _checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoint files, oldest first (temporaries of atomic_write start with '.')."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if PATTERN.match(p.name))


def latest_checkpoint(directory: str | Path, map_location: str | torch.device = "cpu",
                      log: logging.Logger | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads, with its state; None when there is none."""
    for path in reversed(_checkpoints(directory)):
        try:
            return path, torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # a file damaged after the fact: fall back to the one before
            if log is not None:
                log.warning("skipping unreadable checkpoint %s: %s", path, err)
    return None
