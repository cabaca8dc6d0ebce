"""Run directories: ``runs/<problem>-<time>/`` with the resolved config, a log, metrics and files.

A problem's ``main(config, run)`` receives a :class:`Run`; it writes what it produces under
``run.dir`` and logs through ``run.log``. Everything a run writes that another process may read
(metrics, checkpoints) goes through :func:`atomic_write`, so a killed run never leaves a torn file.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable

import numpy as np
import torch
from tqdm.auto import tqdm


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp makes 0600 files


def atomic_write(path: str | Path, write: Callable[[Any], None], binary: bool = True) -> Path:
    """Write a file by ``write(handle)`` into a temporary sibling, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def config_to_toml(config: Any) -> str:
    """The resolved config as TOML text (flat keys: str, int, float, bool, lists of those)."""
    lines = []
    for key, value in dataclasses.asdict(config).items():
        if value is None:
            continue
        lines.append(f"{key} = {json.dumps(value)}" if not isinstance(value, bool)
                     else f"{key} = {str(value).lower()}")
    return "\n".join(lines) + "\n"


def existing_run_dir(path: str | Path) -> Path:
    """The directory of an earlier run, for --resume."""
    path = Path(path)
    if not (path / "config.toml").is_file():
        raise FileNotFoundError(f"--resume {path}: no such run directory (expected {path / 'config.toml'})")
    return path


def check_device(device: str) -> torch.device:
    """A torch.device, refusing CUDA where there is none."""
    try:
        parsed = torch.device(device)
    except RuntimeError:
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {device!r}: expected cpu, cuda or cuda:N")
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine "
                         f"(torch.cuda.is_available() is False); use --device cpu")
    return parsed


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def _seed_from(config: Any) -> None:
    seed = getattr(config, "seed", None)
    if isinstance(seed, int):
        seed_everything(seed)


def _logger(name: str, logfile: Path) -> logging.Logger:
    log = logging.getLogger(f"hodphys.run.{name}.{logfile.parent.name}")
    log.setLevel(logging.INFO)
    log.propagate = False
    for handler in (logging.FileHandler(logfile), logging.StreamHandler()):
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
    return log


@dataclass
class Run:
    """One run of a problem.

    Attributes:
        name: the problem's name.
        dir: the run directory (exists).
        log: a logger writing to ``dir/run.log`` and the console.
        device: where tensors should live.
        resumed: True when continuing an earlier run in the same directory.
        writer: False on torchrun ranks > 0, which compute but write no files (rank 0 does).
    """

    name: str
    dir: Path
    log: logging.Logger
    device: torch.device
    resumed: bool = False
    writer: bool = True

    @classmethod
    def create(cls, name: str, config: Any, root: str | Path = "runs", device: str = "cpu",
               resume: str | Path | None = None) -> Run:
        """Make ``root/<name>-<YYYYmmdd-HHMMSS>`` (or reopen ``resume``), write config, seed."""
        device = check_device(device)
        if resume is not None:
            run_dir = existing_run_dir(resume)
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run_dir = Path(root) / f"{name}-{stamp}"
            suffix = 1
            while run_dir.exists():
                run_dir = Path(root) / f"{name}-{stamp}-{suffix}"
                suffix += 1
            run_dir.mkdir(parents=True)
        atomic_write(run_dir / "config.toml", lambda f: f.write(config_to_toml(config)), binary=False)
        _seed_from(config)
        log = _logger(name, run_dir / "run.log")
        log.info("%s run %s in %s", "resuming" if resume else "starting", name, run_dir)
        return cls(name, run_dir, log, device, resumed=resume is not None)

    @classmethod
    def follow(cls, name: str, config: Any, run_dir: str | Path, device: str | torch.device = "cpu",
               resumed: bool = False) -> Run:
        """The view of a run another process (rank 0) writes: same directory and seeds, no files."""
        _seed_from(config)
        log = logging.getLogger(f"hodphys.run.{name}.{Path(run_dir).name}.follower")
        log.setLevel(logging.WARNING)  # the writer's log tells the story once
        log.propagate = False
        log.addHandler(logging.StreamHandler())
        return cls(name, Path(run_dir), log, torch.device(device), resumed=resumed, writer=False)

    def path(self, *parts: str) -> Path:
        """A path inside the run directory (parent folders created)."""
        target = self.dir.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def progress(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 **kwargs: Any) -> tqdm:
        """A progress bar (tqdm) that stays quiet when output is not a terminal and CI is set."""
        disable = kwargs.pop("disable", None) if self.writer else True
        return tqdm(iterable, total=total, desc=desc or self.name, dynamic_ncols=True,
                    disable=disable, **kwargs)

    def append_metrics(self, **values: Any) -> None:
        """One JSON line in ``metrics.jsonl`` (during a run; the writer only)."""
        if not self.writer:
            return
        with open(self.dir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(values) + "\n")

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        """The final ``metrics.json``, written atomically (by the writer; others just return the path)."""
        if not self.writer:
            return self.dir / "metrics.json"
        text = json.dumps(metrics, indent=2, sort_keys=True, default=float)
        return atomic_write(self.dir / "metrics.json", lambda f: f.write(text + "\n"), binary=False)

    def close(self) -> None:
        for handler in list(self.log.handlers):
            handler.close()
            self.log.removeHandler(handler)
