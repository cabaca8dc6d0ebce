"""Finding problems for ``hodphys run``/``hodphys list`` without importing ``problems/`` as a package.

A problem is a Python file defining

    NAME = "poisson"                 # what `hodphys run NAME` uses
    DESCRIPTION = "one line"
    @dataclass
    class Config: ...                # every knob with a default
    def main(config, run) -> dict    # returns the final metrics
    RESUMABLE = False                # optional: main cannot continue a run (--resume is refused)

found by name in the repository's ``problems/`` folder, or given as a path (``hodphys run my.py``),
so a user's own script is first-class.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from hodphys.app.settings import resolve_config
from hodphys.io.runs import Run, existing_run_dir
from hodphys.train import distributed
from hodphys.io.resources import PROBLEMS_DIR


def load_problem_file(path: str | Path) -> ModuleType:
    """Import a problem script and check it defines NAME, Config (a dataclass) and main."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"problem file {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"hodphys_problem_{path.stem}", path)
    if spec is None or path.suffix != ".py":
        raise ValueError(f"problem file {path}: expected a Python file ending in .py")
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve string annotations (from __future__ import annotations) through
    # sys.modules[cls.__module__], so the module must be registered before it runs
    sys.modules[spec.name] = module
    sys.path.insert(0, str(path.parent.resolve()))  # a problem file may import modules beside it
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    finally:
        sys.path.remove(str(path.parent.resolve()))
    missing = [name for name in ("NAME", "Config", "main") if not hasattr(module, name)]
    if missing:
        raise ValueError(f"problem file {path} must define NAME, Config and main(config, run); "
                         f"missing {missing}")
    if not dataclasses.is_dataclass(module.Config):
        raise ValueError(f"problem file {path}: Config must be a @dataclass with defaults")
    no_default = [f.name for f in dataclasses.fields(module.Config)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if no_default:
        raise ValueError(f"problem file {path}: every Config field needs a default; {no_default} have none")
    return module


def known_problems(directory: Path = PROBLEMS_DIR) -> dict[str, Path]:
    """NAME → file for every problem module in ``directory`` (files starting with _ are helpers)."""
    found: dict[str, Path] = {}
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        found[load_problem_file(path).NAME] = path
    return found


def find_problem(name_or_path: str) -> ModuleType:
    """A problem by NAME (from ``problems/``) or by path to a ``.py`` file."""
    if name_or_path.endswith(".py") or ("/" in name_or_path and Path(name_or_path).is_file()):
        return load_problem_file(name_or_path)
    problems = known_problems()
    if name_or_path not in problems:
        raise ValueError(f"unknown problem {name_or_path!r}; known: {sorted(problems) or 'none'} "
                         f"(or give a path to a problem .py file)")
    return load_problem_file(problems[name_or_path])


def check_resume_changes(config_type: type, saved_file: Path, config: Any, resume: str | Path) -> None:
    """ValueError, before anything is written, if the resumed config changes a key the run's
    checkpoint has fixed (only ``config_type.RESUME_MAY_CHANGE`` may change)."""
    saved = resolve_config(config_type, saved_file, [])
    may_change = getattr(config_type, "RESUME_MAY_CHANGE", frozenset())
    refused = [f"{f.name}: {getattr(saved, f.name)!r} → {getattr(config, f.name)!r}"
               for f in dataclasses.fields(config)
               if f.name not in may_change and getattr(config, f.name) != getattr(saved, f.name)]
    if refused:
        raise ValueError(f"--resume {resume}: cannot change {'; '.join(refused)} (the run's checkpoints were "
                         f"made with the saved values); keys that may change: {sorted(may_change) or 'none'}; "
                         f"start a new run for other settings")


def run_problem(name_or_path: str, config_file: str | Path | None = None, overrides: list[str] = (),
                device: str = "cpu", resume: str | Path | None = None,
                root: str | Path = "runs") -> tuple[Run, dict[str, Any]]:
    """Resolve the config, make the run directory, call ``main`` and write ``metrics.json``.

    With ``resume`` the run continues in that directory, from its saved config unless another
    config file is given (overrides still apply). Under torchrun every rank calls this: rank 0
    makes the directory and writes, the others follow it (:mod:`hodphys.train.distributed`).
    """
    module = find_problem(name_or_path)
    if resume is not None and not getattr(module, "RESUMABLE", True):
        raise ValueError(f"--resume: problem {module.NAME!r} cannot continue a run (it restarts from the "
                         f"beginning); run it again without --resume")
    if resume is not None and config_file is None:
        config_file = existing_run_dir(resume) / "config.toml"
    config = resolve_config(module.Config, config_file, list(overrides))
    if resume is not None:
        check_resume_changes(module.Config, existing_run_dir(resume) / "config.toml", config, resume)
    run = distributed.open_run(module.NAME, config, root=root, device=device, resume=resume)
    clean = False
    try:
        metrics = module.main(config, run) or {}
        if not isinstance(metrics, dict):
            raise TypeError(f"problem {module.NAME!r}: main(config, run) must return a dict of metrics "
                            f"(or None), got {type(metrics).__name__}")
        run.write_metrics(metrics)
        for key, value in sorted(metrics.items()):
            run.log.info("  %-28s %s", key, value)
        run.log.info("wrote %s", run.dir)
        clean = True
    finally:
        run.close()
        distributed.finish(clean)
    return run, metrics
