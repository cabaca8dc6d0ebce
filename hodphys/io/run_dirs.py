"""Where run directories are: a new one made race-free, an earlier one found for ``--resume``, the
temporaries an interrupted write left removed. Every refusal is an InputError naming the path."""
from __future__ import annotations

import os
import time
from pathlib import Path

from hodphys.errors import InputError

MAX_SAME_SECOND = 10_000  # run directories of one problem made in one second


def existing_run_dir(path: str | Path) -> Path:
    """The directory of an earlier run, for --resume (InputError naming what is wrong)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"--resume {path}: is a file, expected a run directory (one holding config.toml)")
    if not (path / "config.toml").is_file():
        raise InputError(f"--resume {path}: no such run directory (expected {path / 'config.toml'})")
    return path


def check_runs_root(root: str | Path) -> Path:
    """``--runs``: a directory, or a path where one can be made (InputError otherwise)."""
    root = Path(root)
    existing = next((p for p in (root, *root.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        what = "is a file" if existing == root else f"cannot be made: {existing} is a file"
        raise InputError(f"--runs {root}: {what}, expected a directory for run directories")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"--runs {root}: cannot write in {existing} (permission denied)")
    return root


def make_run_dir(root: str | Path, name: str, stamp: str | None = None) -> Path:
    """A new, empty ``root/<name>-<stamp>[-k]``; processes starting in the same second each get
    their own (mkdir is the claim: the loser of a race takes the next suffix)."""
    root = check_runs_root(root)
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    for suffix in range(MAX_SAME_SECOND):
        run_dir = root / (f"{name}-{stamp}" if suffix == 0 else f"{name}-{stamp}-{suffix}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise InputError(f"--runs {root}: {MAX_SAME_SECOND} run directories named {name}-{stamp}-* exist already")


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporaries (``.<name>.*.tmp``) an interrupted :func:`atomic_write` left."""
    stale = [p for p in run_dir.rglob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
