"""Present results: an aligned text table or a Markdown table, and the JSON file."""
from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

HEADER = ("case", "contender", "median", "IQR (q1–q3)", "speed-up", "rel. error", "peak mem", "check")


def format_seconds(seconds: float | None) -> str:
    """3 significant digits in s, ms or µs."""
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale or unit == "µs":
            return f"{seconds / scale:.3g} {unit}"
    raise AssertionError("unreachable")


def _memory(row: dict) -> str:
    found = row.get("memory")
    if not found:
        return "—"
    if "error" in found:
        return "failed"
    peak = found["peak_bytes"]
    return f"{peak / 2**20:.1f} MiB" if peak >= 2**20 else f"{peak / 2**10:.0f} KiB"


def _check(row: dict) -> str:
    if row["error"] is not None:
        return "FAILED"
    return "ok" if row["ok"] else "WRONG"


def _cells(case: dict, row: dict) -> tuple[str, ...]:
    median = row.get("median_s")
    spread = "—" if median is None else f"{format_seconds(row['q1_s'])} – {format_seconds(row['q3_s'])}"
    speedup = "—" if median is None else f"{row['speedup']:.2f}×"
    error = "—" if row.get("rel_error") is None else f"{row['rel_error']:.1e}"
    name = row["name"] + (" (ref)" if row["name"] == case["reference"] else "")
    return (case["name"], name, format_seconds(median), spread, speedup, error, _memory(row), _check(row))


def rows(results: dict) -> list[tuple[str, ...]]:
    """One tuple of cells per contender of every case, in the order of :data:`HEADER`."""
    return [_cells(case, row) for case in results["cases"] for row in case["contenders"]]


def conditions(meta: dict) -> str:
    """One line: machine, versions, threads, dtype, repetitions and load."""
    load = meta.get("load_average")
    return (f"{meta['device']} ({meta['gpu'] or meta['cpu']}, {meta['cpu_count']} CPUs), torch {meta['torch']}, "
            f"threads={meta['threads']}, {meta['dtype']}, {meta.get('clock', 'wall')} clock, "
            f"median of {meta['repeat']} interleaved samples after "
            f"{meta['warmup']} warm-up, "
            + (f"≥{meta['min_time'] * 1e3:.0f} ms a sample" if meta["warmup"] > 0
               else "one call a sample (no warm-up call to size samples by)")
            + (f", load average {load[0]:.1f} at the start" if load else ""))


def _notes(results: dict, bullet: str) -> list[str]:
    lines = ["speed-up = median time of the reference / median time of the contender; a sample of a "
             "fast contender is the mean of several back-to-back calls (calls_per_sample in the JSON)"]
    if "meta" in results:
        lines.append(conditions(results["meta"]))
    for case in results["cases"]:
        lines.append(f"{bullet}{case['name']}: {case['description']}")
        if case.get("error"):
            lines.append(f"  {bullet}the case failed: {case['error']}")
        if case.get("skipped"):
            lines.append(f"  {bullet}skipped: {case['skipped']}")
        lines += [f"  {bullet}{row['name']} failed: {row['error']}" for row in case["contenders"] if row["error"]]
        setup = [f"{row['name']} {format_seconds(row['setup_s'])}" for row in case["contenders"] if row.get("setup_s")]
        if setup:
            lines.append(f"  {bullet}one-time setup, not in the times (compiling): {', '.join(setup)}")
    return lines


def format_table(results: dict, markdown: bool = False) -> str:
    """The results as an aligned text table or a Markdown table, with the conditions, each
    case's description and any failure below."""
    body = rows(results)
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines + [""] + _notes(results, "- "))
    widths = [max(len(cells[i]) for cells in [HEADER, *body]) for i in range(len(HEADER))]
    align = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    lines = [align(HEADER), align(tuple("-" * w for w in widths))] + [align(cells) for cells in body]
    return "\n".join(lines + _notes(results, ""))


def _finite(value):
    """JSON has no inf/nan: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def default_json_path() -> Path:
    """bench-results/bench-<YYYYmmdd-HHMMSS>.json in the current directory."""
    return Path("bench-results") / f"bench-{datetime.datetime.now():%Y%m%d-%H%M%S}.json"


def write_json(results: dict, path: Path) -> Path:
    """Write the results (strict JSON: inf/nan as null), creating the folder; the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_finite(results), indent=1, ensure_ascii=False) + "\n")
    return path
