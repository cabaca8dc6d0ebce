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
    return f"{found['peak_bytes'] / 2**20:.1f} MiB"


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


def format_table(results: dict, markdown: bool = False) -> str:
    """The results as an aligned text table (descriptions and failures below) or a Markdown table."""
    body = rows(results)
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in body])
    widths = [max(len(cells[i]) for cells in [HEADER, *body]) for i in range(len(HEADER))]
    align = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    lines = [align(HEADER), align(tuple("-" * w for w in widths))] + [align(cells) for cells in body]
    lines.append("speed-up = median time of the reference / median time of the contender")
    for case in results["cases"]:
        lines.append(f"{case['name']}: {case['description']}")
        lines += [f"  {row['name']} failed: {row['error']}" for row in case["contenders"] if row["error"]]
    return "\n".join(lines)


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
