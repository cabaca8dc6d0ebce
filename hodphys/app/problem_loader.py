"""Finding problems for ``hodphys run``/``hodphys list`` without importing ``problems/`` as a package.

A problem is a Python file defining

    NAME = "poisson"                 # what `hodphys run NAME` uses
    DESCRIPTION = "one line"
    @dataclass
    class Config: ...                # every knob with a default
    def main(config, run) -> dict    # returns the final metrics
    def check(config) -> None        # optional (every shipped problem has one): ValueError naming the key of
                                     # a bad value, called before the run directory is made (exit 2, one line)
    RESUMABLE = False                # optional: main cannot continue a run (--resume is refused)
    DEVICES = ("cpu",)               # optional: the devices it runs on (--device is checked first)
    DEVICES_WHY = "one line"         # optional: why, for the refusal's message

found by name in the repository's ``problems/`` folder, or given as a path (``hodphys run my.py``),
so a user's own script is first-class.
"""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from types import ModuleType
from typing import Any

from hodphys.app.lifecycle import check_resume_changes, execute, mark_problem_code, prepare_run  # noqa: F401
from hodphys.errors import InputError
from hodphys.io.resources import PROBLEMS_DIR, load_python_file
from hodphys.io.runs import Run
from hodphys.train import distributed


def _import(path: Path, name: str) -> ModuleType:
    """Run the file as module ``name``: a syntax error is one InputError with file:line; any other
    exception is the file's own and keeps its traceback (marked as the problem's)."""
    if path.suffix != ".py":
        raise InputError(f"problem file {path}: expected a Python file ending in .py")
    try:
        return load_python_file(path, name)
    except SyntaxError as err:
        raise InputError(f"problem file {err.filename or path}:{err.lineno}: {type(err).__name__}: "
                         f"{err.msg}" + (f": {err.text.strip()}" if err.text else "")) from None
    except BaseException as err:
        mark_problem_code(err, path)
        raise


def load_problem_file(path: str | Path) -> ModuleType:
    """Import a problem script and check it defines NAME, Config (a dataclass) and main."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"problem file {path}: is a directory, expected a Python file ending in .py")
    if not path.is_file():
        raise FileNotFoundError(f"problem file {path} does not exist")
    module = _import(path, f"hodphys_problem_{path.stem}")
    missing = [name for name in ("NAME", "Config", "main") if not hasattr(module, name)]
    if missing:
        raise InputError(f"problem file {path} must define NAME, Config and main(config, run); "
                         f"missing {missing}")
    if not dataclasses.is_dataclass(module.Config):
        raise InputError(f"problem file {path}: Config must be a @dataclass with defaults")
    no_default = [f.name for f in dataclasses.fields(module.Config)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if no_default:
        raise InputError(f"problem file {path}: every Config field needs a default; {no_default} have none")
    return module


def header(path: Path) -> dict[str, str]:
    """The problem file's literal module-level ``NAME`` and ``DESCRIPTION`` strings, read without
    running it (so listing or finding one problem imports no other); a file whose NAME is not a
    plain string literal is imported instead."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError):
        tree = None
    found: dict[str, str] = {}
    for node in tree.body if tree else ():
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            found[node.targets[0].id] = node.value.value
    if "NAME" not in found:
        module = load_problem_file(path)
        return {"NAME": module.NAME, "DESCRIPTION": getattr(module, "DESCRIPTION", "")}
    return {"NAME": found["NAME"], "DESCRIPTION": found.get("DESCRIPTION", "")}


def known_problems(directory: Path = PROBLEMS_DIR) -> dict[str, Path]:
    """NAME → file for every problem module in ``directory`` (files starting with _ are helpers)."""
    found: dict[str, Path] = {}
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        found[header(path)["NAME"]] = path
    return found


def find_problem(name_or_path: str) -> ModuleType:
    """A problem by NAME (from ``problems/``) or by path to a ``.py`` file."""
    if name_or_path.endswith(".py") or ("/" in name_or_path and Path(name_or_path).exists()):
        return load_problem_file(name_or_path)
    problems = known_problems()
    if name_or_path not in problems:
        raise InputError(f"unknown problem {name_or_path!r}; known: {sorted(problems) or 'none'} "
                         f"(or give a path to a problem .py file)")
    return load_problem_file(problems[name_or_path])


def run_problem(name_or_path: str, config_file: str | Path | None = None, overrides: list[str] = (),
                device: str = "cpu", resume: str | Path | None = None,
                root: str | Path = "runs") -> tuple[Run, dict[str, Any]]:
    """Check everything, then make the run directory, call ``main`` and write ``metrics.json``.

    Nothing is written until the whole resolved config has passed every check (the shared
    training knobs, the problem's own ``check(config)``, the memory of the training batch) and a
    resume is known to be by the problem that made the run and not to shorten it. With ``resume``
    the run continues in that directory, from its saved config unless another config file is
    given (overrides still apply). A failure or Ctrl-C inside ``main`` is recorded in run.log and
    status.json and re-raised with :class:`RunEnd` as its ``hodphys_run`` attribute. Under
    torchrun every rank calls this: rank 0 makes the directory and writes, the others follow it.
    """
    module = find_problem(name_or_path)
    plan = prepare_run(module, name_or_path, config_file, overrides, device, resume, root)
    run = distributed.open_run(module.NAME, plan.config, root=root, device=device, resume=resume,
                               origin=plan.origin)
    return run, execute(module, run, plan)
