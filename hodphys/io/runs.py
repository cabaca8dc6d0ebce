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
import tomllib
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from hodphys.errors import InputError
from hodphys.io.run_dirs import existing_run_dir, make_run_dir, remove_stale_temporaries


ORIGIN_FILE = "run.json"  # which problem made the run: {"problem": NAME, "file": path, "sha256": …}
STATUS_FILE = "status.json"  # {"status": "running" | "finished" | "failed" | "interrupted", …}


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


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value, allow_nan=False)


def config_to_toml(config: Any) -> str:
    """The resolved config as TOML text (flat keys: str, int, float, bool, lists of those).

    InputError naming the key for a value TOML cannot hold (NaN, ±inf, a lone surrogate from
    undecodable command-line bytes, an object): each line is parsed back before anyone writes it.
    """
    lines, values = [], {k: v for k, v in dataclasses.asdict(config).items() if v is not None}
    for key, value in values.items():
        try:
            lines.append(f"{key} = {_toml_value(value)}")
            tomllib.loads(lines[-1])
        except (ValueError, TypeError, tomllib.TOMLDecodeError):
            raise InputError(f"config key {key!r}: {value!r} cannot be saved in config.toml (expected a "
                             f"finite number, a string of valid characters, or a list of those)") from None
    return "\n".join(lines) + "\n"


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
               resume: str | Path | None = None, origin: dict[str, Any] | None = None) -> Run:
        """Make ``root/<name>-<YYYYmmdd-HHMMSS>`` (or reopen ``resume``), write config, seed.

        Everything is checked before the directory is made or touched (the config must survive
        TOML, the device exist). ``origin`` (which problem makes the run: name, file) is written
        to ``run.json`` of a new run. A resumed run loses the temporaries a kill left.
        """
        device = check_device(device)
        text = config_to_toml(config)
        if resume is not None:
            run_dir = existing_run_dir(resume)
        else:
            run_dir = make_run_dir(root, name)
            atomic_write(run_dir / ORIGIN_FILE, lambda f: f.write(json.dumps(origin or {"problem": name},
                                                                              indent=2) + "\n"), binary=False)
        stale = remove_stale_temporaries(run_dir) if resume is not None else []
        atomic_write(run_dir / "config.toml", lambda f: f.write(text), binary=False)
        _seed_from(config)
        log = _logger(name, run_dir / "run.log")
        log.info("%s run %s in %s", "resuming" if resume else "starting", name, run_dir)
        for path in stale:
            log.info("removed %s (left by an interrupted write)", path)
        run = cls(name, run_dir, log, device, resumed=resume is not None)
        run.set_status("running")
        return run

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

    def set_status(self, status: str, **details: Any) -> None:
        """``status.json``: running, finished, failed or interrupted (the writer only)."""
        if self.writer:
            record = {"status": status, "problem": self.name, "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
                      **details}
            atomic_write(self.dir / STATUS_FILE, lambda f: f.write(json.dumps(record, indent=2) + "\n"),
                         binary=False)

    def record_end(self, status: str, error: BaseException, closing: str, **details: Any) -> None:
        """A failed or interrupted run: the traceback and a closing line in run.log (not on the
        console: the command reports it once), and ``status.json``."""
        self.to_file(logging.ERROR, "".join(traceback.format_exception(error)).rstrip())
        self.to_file(logging.ERROR, closing)
        self.set_status(status, error=f"{type(error).__name__}: {error}", message=closing, **details)

    def to_file(self, level: int, message: str) -> None:
        """A line in run.log only (not on the console)."""
        for handler in self.log.handlers:
            if isinstance(handler, logging.FileHandler):
                handler.handle(self.log.makeRecord(self.log.name, level, __file__, 0, message, (), None))

    @contextmanager
    def logging_warnings(self) -> Iterator[None]:
        """Python warnings shown inside the block (e.g. a time step halved) are written to run.log
        as well; the console and ``warnings.catch_warnings`` see them as before."""
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            self.to_file(logging.WARNING, f"{category.__name__}: {message}")
            shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        try:
            yield
        finally:
            warnings.showwarning = shown

    def close(self) -> None:
        for handler in list(self.log.handlers):
            handler.close()
            self.log.removeHandler(handler)
