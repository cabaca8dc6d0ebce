"""Run benchmark cases: check every contender against the reference once, time them all
interleaved, measure their peak memory, and collect the results as plain data (JSON-ready).
"""
from __future__ import annotations

import datetime
import math
import os
import platform
from dataclasses import asdict, dataclass
from collections.abc import Callable

import torch
from threadpoolctl import threadpool_limits

import hodphys
from hodphys.bench import memory, timing
from hodphys.bench.registry import TOLERANCE, BenchCase, BenchEnv, BenchSpec, CaseSkipped, select_cases

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class BenchOptions:
    """What ``hodphys bench`` was asked to do (see ``hodphys bench --help``)."""

    group: str | None = "foundation"
    cases: tuple[str, ...] = ()
    quick: bool = False
    repeat: int = 7
    warmup: int = 2
    threads: int = 1
    dtype: str = "float32"
    device: str = "cpu"
    memory: bool = True
    min_time: float = 0.05
    clock: str = "wall"


def make_env(options: BenchOptions) -> BenchEnv:
    """Check the options and turn them into the environment the cases are built in."""
    if options.dtype not in DTYPES:
        raise ValueError(f"hodphys bench: unknown --dtype {options.dtype!r}; expected one of {sorted(DTYPES)}")
    if options.device not in ("cpu", "cuda"):
        raise ValueError(f"hodphys bench: unknown --device {options.device!r}; expected 'cpu' or 'cuda'")
    if options.clock not in timing.CLOCKS or (options.clock == "cpu" and options.device != "cpu"):
        raise ValueError(f"hodphys bench: --clock {options.clock!r} needs one of {sorted(timing.CLOCKS)}, "
                         f"and 'cpu' only with --device cpu")
    if options.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("hodphys bench --device cuda: CUDA is not available on this machine")
    if options.repeat < 5 and not options.quick:
        raise ValueError(f"hodphys bench: --repeat must be ≥ 5 for a median worth reporting, got {options.repeat}")
    if options.repeat < 1 or options.warmup < 0 or options.threads < 1 or not 0 <= options.min_time < math.inf:
        raise ValueError(f"hodphys bench: expected --repeat ≥ 1, --warmup ≥ 0, --threads ≥ 1 and "
                         f"--min-time ≥ 0, got {options.repeat}, {options.warmup}, {options.threads} "
                         f"and {options.min_time}")
    return BenchEnv(torch.device(options.device), DTYPES[options.dtype], options.quick)


def _evaluate(spec: BenchSpec, tolerance: float) -> dict[str, dict]:
    """Call every contender once; its error against the reference, or the exception it raised."""
    outputs, rows = {}, {}
    for name, fn in spec.contenders.items():
        try:
            outputs[name] = fn()
            rows[name] = {"name": name, "error": None}
        except Exception as err:  # a failing contender is a result to report, not a crash
            rows[name] = {"name": name, "error": f"{type(err).__name__}: {err}", "ok": False, "rel_error": None}
    reference = outputs.get(spec.reference)
    if reference is None:
        raise RuntimeError(f"the reference contender {spec.reference!r} failed: {rows[spec.reference]['error']}")
    for name, out in outputs.items():
        try:
            error = float(spec.check(out, reference))
        except Exception as err:  # e.g. a contender returned something of another shape or type
            rows[name].update(error=f"cannot compare with the reference: {type(err).__name__}: {err}",
                              ok=False, rel_error=None)
            continue
        rows[name].update(rel_error=error, ok=bool(error <= tolerance))
    return rows


def _sync(env: BenchEnv) -> Callable[[], None]:
    return (lambda: torch.cuda.synchronize(env.device)) if env.device.type == "cuda" else (lambda: None)


def _memory(case: BenchCase, spec: BenchSpec, name: str, env: BenchEnv, threads: int) -> dict:
    if env.device.type == "cuda":
        return memory.cuda_peak(spec.contenders[name], env.device)
    return memory.rss_peak(case.name, name, env, threads)


def run_case(case: BenchCase, env: BenchEnv, options: BenchOptions) -> dict:
    """One case: correctness, interleaved times (with speed-up over the reference) and memory."""
    spec = case.build(env)
    if spec.reference not in spec.contenders:
        raise ValueError(f"bench case {case.name!r}: reference {spec.reference!r} is not among its "
                         f"contenders {list(spec.contenders)}")
    tolerance = spec.tolerance if spec.tolerance is not None else TOLERANCE[env.dtype]
    rows = _evaluate(spec, tolerance)
    runnable = {name: fn for name, fn in spec.contenders.items() if rows[name]["error"] is None}
    times, number = timing.interleaved(runnable, options.repeat, options.warmup, _sync(env), options.min_time,
                                       timing.CLOCKS[options.clock])
    reference = timing.summarize(times[spec.reference])["median"]
    for name, seconds in times.items():
        stats = timing.summarize(seconds)
        rows[name].update({f"{key}_s": value for key, value in stats.items()}, times_s=seconds,
                          calls_per_sample=number[name], speedup=timing.speedup(reference, stats["median"]),
                          setup_s=spec.setup_seconds.get(name))
        if options.memory:
            rows[name]["memory"] = _memory(case, spec, name, env, options.threads)
    return {"name": case.name, "group": case.group, "description": spec.description,
            "reference": spec.reference, "tolerance": tolerance, "contenders": list(rows.values())}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def metadata(options: BenchOptions, env: BenchEnv) -> dict:
    """Conditions of the run: versions, machine, threads, dtype, repetitions, memory method."""
    return {
        "time": datetime.datetime.now().isoformat(timespec="seconds"),
        "hodphys": hodphys.__version__, "torch": torch.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "cpu": _cpu_model(), "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "gpu": torch.cuda.get_device_name(env.device) if env.device.type == "cuda" else None,
        "memory_method": (None if not options.memory else "cuda max_memory_allocated" if env.device.type == "cuda"
                          else "peak RSS increase in a fresh spawned process"),
        **asdict(options), "cases": list(options.cases),
    }


def run_bench(options: BenchOptions, log: Callable[[str], None] = lambda line: None) -> dict:
    """Run the selected cases with ``torch.set_num_threads(options.threads)``; the results dict."""
    env = make_env(options)
    cases = select_cases(options.group, options.cases)
    threads = torch.get_num_threads()
    torch.set_num_threads(options.threads)
    blas = threadpool_limits(options.threads, user_api="blas")  # NumPy's BLAS on as many threads as torch
    try:
        results = []
        for i, case in enumerate(cases, 1):
            log(f"[{i}/{len(cases)}] {case.name}")
            try:
                results.append(run_case(case, env, options))
            except CaseSkipped as skip:
                log(f"  {case.name} skipped: {skip}")
                results.append({"name": case.name, "group": case.group, "description": "(skipped)",
                                "reference": None, "tolerance": None, "contenders": [], "skipped": str(skip)})
            except Exception as err:  # one broken case is reported; the others still run and are saved
                log(f"  {case.name} failed: {type(err).__name__}: {err}")
                results.append({"name": case.name, "group": case.group, "description": "(could not run)",
                                "reference": None, "tolerance": None, "contenders": [],
                                "error": f"{type(err).__name__}: {err}"})
    finally:
        torch.set_num_threads(threads)
        blas.restore_original_limits()
    return {"meta": metadata(options, env), "cases": results}


def all_correct(results: dict) -> bool:
    """True when every contender of every case ran and matched its reference."""
    return all(not case.get("error") for case in results["cases"]) and all(
        row["ok"] and math.isfinite(row["rel_error"]) for case in results["cases"] for row in case["contenders"])
