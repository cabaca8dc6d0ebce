"""A run's life: every check before anything is written, then ``main``, then a recorded ending.

    plan = prepare_run(module, "poisson", None, ["lr=1e-3"], "cpu", resume=None, root="runs")
    run = Run.create(module.NAME, plan.config, origin=plan.origin)   # only now is anything written
    metrics = execute(module, run, plan)

Checks (all before the run directory is made or touched): the run directory of a resume exists
and was made by this problem (``run.json``: name and file), the problem can resume, the config
resolves, every value is finite and survives TOML, the shared training knobs
(:func:`hodphys.train.config.validate`) and the problem's own ``check(config)`` pass, the
training points fit in memory, a resume changes only what the checkpoints allow and does not
shorten a run. The ending — finished, failed or interrupted — goes to run.log (traceback and a
closing line saying how to resume) and ``status.json``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from hodphys.app.settings import resolve_config
from hodphys.errors import InputError
from hodphys.io.run_dirs import check_runs_root, existing_run_dir
from hodphys.io.runs import ORIGIN_FILE, Run, check_device, config_to_toml
from hodphys.train import distributed
from hodphys.train.config import TrainConfig, check_memory, validate
from hodphys.train.trainer import check_not_shortened


@dataclass(frozen=True)
class RunEnd:
    """How a run that raised ended: its directory, ``failed`` or ``interrupted``, and the command
    that continues (or repeats) it. Attached to the exception as ``hodphys_run``."""

    run_dir: Path
    status: str
    next_command: str


@dataclass(frozen=True)
class RunPlan:
    """A checked run, nothing written yet: the resolved config, which problem makes it (for
    ``run.json``) and how to name the problem on a command line."""

    config: Any
    origin: dict[str, str]
    command: str
    resumable: bool

    def next_command(self, run_dir: Path) -> str:
        if self.resumable:
            return f"resume with: {self.command} --resume {shlex.quote(str(run_dir))}"
        return f"it cannot resume; start it again with: {self.command}"


def mark_problem_code(error: BaseException, problem_file: str | Path) -> None:
    """Note on ``error`` that the problem's own code raised it (the command shows its traceback)."""
    try:
        error.hodphys_problem_file = str(Path(problem_file).resolve())
    except AttributeError:  # an exception type with __slots__: reported as any other
        pass


def problem_origin(module: ModuleType) -> dict[str, str]:
    """Which problem this is: its NAME, its file and the file's SHA-256."""
    path = Path(module.__file__).resolve()
    return {"problem": module.NAME, "file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def check_same_problem(run_dir: Path, origin: dict[str, str], resume: str | Path) -> None:
    """InputError naming both problems when the run in ``run_dir`` was made by another one (same
    NAME and file, or same NAME and the file's content, counts as the same problem)."""
    record_file = run_dir / ORIGIN_FILE
    if not record_file.is_file():
        return  # a run made before run.json existed: the config keys are still checked
    try:
        made_by = json.loads(record_file.read_text())
        name, file = made_by["problem"], made_by.get("file")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"--resume {resume}: cannot read {record_file} ({err}); expected "
                         f'{{"problem": NAME, "file": path}}') from None
    same_file = file is None or file == origin["file"] or made_by.get("sha256") == origin["sha256"]
    if name != origin["problem"] or not same_file:
        raise InputError(f"--resume {resume}: this run was made by problem {name!r} ({file}), not by "
                         f"{origin['problem']!r} ({origin['file']}); resume it with: "
                         f"hodphys run {file or name} --resume {resume}")


def check_config(module: ModuleType, config: Any, device: str) -> None:
    """The shared training knobs, the training points' memory and the problem's ``check(config)``."""
    if isinstance(config, TrainConfig):
        validate(config)
        check_memory(config, device, distributed.world_size())
    check = getattr(module, "check", None)
    if check is None:
        return
    try:
        check(config)
    except (ValueError, OSError):
        raise  # the problem's verdict on a config value: a usage error, one line
    except BaseException as err:
        mark_problem_code(err, module.__file__)
        raise


def check_resume_changes(config_type: type, saved_file: Path, config: Any, resume: str | Path) -> None:
    """InputError if the resumed config changes a key the run's checkpoint has fixed (only
    ``config_type.RESUME_MAY_CHANGE`` may change)."""
    saved = resolve_config(config_type, saved_file, [])
    may_change = getattr(config_type, "RESUME_MAY_CHANGE", frozenset())
    refused = [f"{f.name}: {getattr(saved, f.name)!r} → {getattr(config, f.name)!r}"
               for f in dataclasses.fields(config)
               if f.name not in may_change and getattr(config, f.name) != getattr(saved, f.name)]
    if refused:
        raise InputError(f"--resume {resume}: cannot change {'; '.join(refused)} (the run's checkpoints were "
                         f"made with the saved values); keys that may change: {sorted(may_change) or 'none'}; "
                         f"start a new run for other settings")


def check_problem_device(module: ModuleType, device: str) -> None:
    """InputError if the problem declares the devices it runs on (``DEVICES``) and ``device`` is not one."""
    devices = getattr(module, "DEVICES", None)
    kind = device.split(":")[0]
    if devices is not None and kind not in devices:
        reason = getattr(module, "DEVICES_WHY", "")
        raise InputError(f"--device {device}: problem {module.NAME!r} runs on {' or '.join(devices)} only"
                         + (f" ({reason})" if reason else "") + f"; drop --device or use --device {devices[0]}")


def prepare_run(module: ModuleType, name_or_path: str, config_file: str | Path | None, overrides: list[str],
                device: str, resume: str | Path | None, root: str | Path) -> RunPlan:
    """Every check of a run, in order; raises before anything is written, returns the plan."""
    origin = problem_origin(module)
    resumable = getattr(module, "RESUMABLE", True)
    if resume is not None:
        if not resumable:
            raise InputError(f"--resume: problem {module.NAME!r} cannot continue a run (it restarts from the "
                             f"beginning); run it again without --resume")
        run_dir = existing_run_dir(resume)
        check_same_problem(run_dir, origin, resume)
        config_file = run_dir / "config.toml" if config_file is None else config_file
    else:
        check_runs_root(root)
    check_problem_device(module, device)
    check_device(device)
    config = resolve_config(module.Config, config_file, list(overrides))
    if resume is not None:
        check_resume_changes(module.Config, run_dir / "config.toml", config, resume)
    check_config(module, config, device)
    if resume is not None and isinstance(config, TrainConfig):
        check_not_shortened(config, run_dir / "checkpoints", resume)
    config_to_toml(config)  # every value must survive config.toml
    problem = module.NAME if not name_or_path.endswith(".py") else shlex.quote(str(Path(name_or_path).resolve()))
    command = f"hodphys run {problem}" + (f" --device {device}" if device != "cpu" else "")
    return RunPlan(config, origin, command, resumable)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def execute(module: ModuleType, run: Run, plan: RunPlan) -> dict[str, Any]:
    """Call ``main(config, run)``, write metrics.json and status.json; on an exception or Ctrl-C
    record the ending (run.log, status.json) and re-raise with ``hodphys_run`` attached."""
    clean = False
    try:
        with run.logging_warnings():
            try:
                metrics = module.main(plan.config, run) or {}
            except BaseException as err:
                mark_problem_code(err, module.__file__)
                raise
        if not isinstance(metrics, dict):
            raise TypeError(f"problem {module.NAME!r}: main(config, run) must return a dict of metrics "
                            f"(or None), got {type(metrics).__name__}")
        run.write_metrics(metrics)
        for key, value in sorted(metrics.items()):
            run.log.info("  %-28s %s", key, value)
        run.set_status("finished")
        run.log.info("wrote %s", run.dir)
        clean = True
        return metrics
    except BaseException as err:
        status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        what = "interrupted (Ctrl-C)" if status == "interrupted" else f"failed: {_first_line(err)}"
        closing = f"run {what}; {plan.next_command(run.dir)}"
        run.record_end(status, err, closing)
        try:
            err.hodphys_run = RunEnd(run.dir, status, plan.next_command(run.dir))
        except AttributeError:
            pass
        raise
    finally:
        run.close()
        distributed.finish(clean)
