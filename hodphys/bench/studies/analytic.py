"""Benchmarks of the analytic engine (bench group "analytic"): plain functions returning rows.

* :func:`issue_cases`: the cases of issue 3 — ``method="auto"`` against torch.func, every
  engine timed, auto's choice checked against the fastest measured engine;
* :func:`laplacian_floor`: the forward Laplacian against one forward pass and (d+2) of them,
  the FLOP floor of an exact Laplacian;
* :func:`hessquik_sweep`: hessQuik's own timing network and sweep (d = 2⁰..2¹⁰, m ∈ {1, 8}),
  ``hp.hessian`` against torch.func and hessQuik (when installed), time and peak memory.

All timings: CPU float32, torch on one thread, medians of interleaved rounds
(:mod:`hodphys.bench.measure`). ``python -m hodphys.bench.studies.analytic [--quick]`` prints
the tables in markdown.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Sequence

import torch
from torch import nn

import hodphys as hp
from hodphys.bench.references import hessquik
from hodphys.bench.measure import peak_bytes, time_interleaved
from hodphys.engines import ENGINES
from hodphys.nn import LogCosh, MLP, ResNet


@dataclass(frozen=True)
class Case:
    """One issue case: a network, a batch, a quantity and the speed-up auto must reach."""

    name: str
    widths: tuple[int, ...]
    batch: int
    quantity: str
    target: float


CASES = (
    Case("A: Laplacian 2→100×5→8", (2, 100, 100, 100, 100, 100, 8), 2048, "laplacian", 6.0),
    Case("B: Laplacian 20→128×4→1", (20, 128, 128, 128, 128, 1), 512, "laplacian", 2.5),
    Case("C: Hessian 16→64×4→1", (16, 64, 64, 64, 64, 1), 1024, "hessian", 2.0),
    Case("D: decoder ∇_q(wᵀ∇²f[q̇,q̇])", (6, 64, 128, 256, 1542), 1, "directional_grad", 5.0),
    Case("E: Laplacian 1000→128×3→1", (1000, 128, 128, 128, 1), 128, "laplacian", 20.0),
)


def _call(case: Case, model: nn.Module, x: torch.Tensor) -> Callable[[str], Any]:
    """method ↦ the case's computation with that method."""
    if case.quantity == "directional_grad":
        q_dot = torch.randn_like(x)
        w = torch.randn(x.shape[0], case.widths[-1])
        return lambda method: hp.directional_grad(model, x, [q_dot, q_dot], w, method=method)
    fn = getattr(hp, case.quantity)
    return lambda method: fn(model, x, method=method)


def _explain(case: Case, model: nn.Module, x: torch.Tensor):
    if case.quantity == "directional_grad":
        return hp.explain(model, x, case.quantity, vs=[x, x], w=torch.ones(case.widths[-1]))
    return hp.explain(model, x, case.quantity)


def issue_cases(cases: Sequence[Case] = CASES, repeats: int = 7, batch_scale: float = 1.0,
                seed: int = 0) -> list[dict[str, Any]]:
    """Per case: every engine's median time, auto's, auto's choice, the fastest, speed-up vs torch.func."""
    rows = []
    for case in cases:
        torch.manual_seed(seed)
        model = MLP(list(case.widths))
        x = torch.randn(max(1, int(case.batch * batch_scale)), case.widths[0])
        run = _call(case, model, x)
        choice = _explain(case, model, x)
        methods = ["auto", *choice.costs]
        times = time_interleaved({m: (lambda m=m: run(m)) for m in methods}, repeats=repeats)
        fastest = min(choice.costs, key=times.__getitem__)
        speedup = times["autograd"] / times["auto"]
        rows.append({"case": case.name, "batch": x.shape[0], "chosen": choice.chosen, "fastest": fastest,
                     "times": times, "speedup": speedup, "target": case.target,
                     "met": speedup >= case.target})
    return rows


def laplacian_floor(cases: Sequence[Case] = CASES[:2], repeats: int = 7, batch_scale: float = 1.0) -> list[dict]:
    """The Laplacian against one forward pass and the (d+2)-forward FLOP floor."""
    rows = []
    for case in cases:
        torch.manual_seed(0)
        model = MLP(list(case.widths))
        x = torch.randn(max(1, int(case.batch * batch_scale)), case.widths[0])
        times = time_interleaved({
            "forward": lambda: model(x),
            "analytic-forward": lambda: hp.laplacian(model, x, method="analytic-forward"),
            "auto": lambda: hp.laplacian(model, x),
            "torch.func": lambda: hp.laplacian(model, x, method="autograd"),
        }, repeats=repeats)
        d = case.widths[0]
        rows.append({"case": case.name, "times": times, "d": d,
                     "per_forward": times["auto"] / times["forward"],
                     "per_floor": times["auto"] / ((d + 2) * times["forward"])})
    return rows


def timing_network(d: int, m: int) -> nn.Module:
    """hessQuik's timing network: singleLayer(d→16, antiTanh), ResNet(16, depth 4, h=0.5, tanh), singleLayer(16→m)."""
    return ResNet(d, 16, 4, m, activation=nn.Tanh(), step=0.5, opening_activation=LogCosh())


def _sweep_candidates(model: nn.Module, x: torch.Tensor) -> dict[str, Callable[[], Any]]:
    candidates = {"hodphys": lambda: hp.hessian(model, x),
                  "torch.func": lambda: hp.hessian(model, x, method="autograd")}
    if hessquik.available():
        twin = hessquik.to_hessquik(model)
        candidates["hessQuik"] = lambda: twin(x, do_gradient=True, do_Hessian=True)
    return candidates


def hessquik_sweep(dims: Sequence[int] = tuple(2 ** k for k in range(11)), outputs: Sequence[int] = (1, 8),
                   batches: Sequence[int] = (10, 1000), repeats: int = 5,
                   budget_bytes: int = 2 ** 29, memory: bool = True) -> list[dict[str, Any]]:
    """hessQuik's sweep; cells whose Hessian (N·m·d² floats) exceeds ``budget_bytes`` are skipped."""
    rows = []
    for batch in batches:
        for m in outputs:
            for d in dims:
                row: dict[str, Any] = {"d": d, "m": m, "batch": batch}
                if batch * m * d * d * 4 > budget_bytes:
                    rows.append({**row, "skipped": f"Hessian > {budget_bytes / 2 ** 20:.0f} MiB"})
                    continue
                torch.manual_seed(0)
                model, x = timing_network(d, m), torch.randn(batch, d)
                candidates = _sweep_candidates(model, x)
                row["times"] = time_interleaved(candidates, repeats=repeats, warmup=3)  # replay records on call 2
                row["chosen"] = hp.explain(model, x, "hessian").chosen
                if memory:
                    row["peak"] = {name: peak_bytes(fn) for name, fn in candidates.items()}
                rows.append(row)
    return rows


def _ms(t: float) -> str:
    return f"{t * 1e3:.3g}"


def render_cases(rows: list[dict]) -> str:
    """Markdown table of :func:`issue_cases`."""
    names = sorted({n for r in rows for n in r["times"]} - {"auto"})
    lines = ["| case | batch | auto → | " + " | ".join(f"{n} ms" for n in names)
             + " | auto ms | torch.func/auto | target | fastest |",
             "|---|---|---|" + "---|" * len(names) + "---|---|---|---|"]
    for r in rows:
        cells = " | ".join(_ms(r["times"][n]) if n in r["times"] else "–" for n in names)
        mark = "✓" if r["met"] else "✗"
        lines.append(f"| {r['case']} | {r['batch']} | {r['chosen']} | {cells} | {_ms(r['times']['auto'])} | "
                     f"{r['speedup']:.1f}× | ≥{r['target']:g}× {mark} | {r['fastest']} |")
    return "\n".join(lines)


def render_floor(rows: list[dict]) -> str:
    """Markdown table of :func:`laplacian_floor`."""
    lines = ["| case | forward ms | auto ms | analytic-forward ms | torch.func ms | auto / forward "
             "| auto / ((d+2)·forward) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["times"]
        lines.append(f"| {r['case']} | {_ms(t['forward'])} | {_ms(t['auto'])} | {_ms(t['analytic-forward'])} | "
                     f"{_ms(t['torch.func'])} | {r['per_forward']:.1f} | {r['per_floor']:.2f} |")
    return "\n".join(lines)


def render_sweep(rows: list[dict]) -> str:
    """Markdown table of :func:`hessquik_sweep` (times in ms, peak memory in MiB, ratios)."""
    lines = ["| batch | m | d | auto → | hodphys ms | torch.func ms | hessQuik ms | hessQuik/hodphys | "
             "torch.func/hodphys | peak MiB hodphys / torch.func / hessQuik |", "|---" * 10 + "|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['batch']} | {r['m']} | {r['d']} | skipped: {r['skipped']} |" + " |" * 6)
            continue
        t, peak = r["times"], r.get("peak", {})
        hq = t.get("hessQuik")
        mem = " / ".join(f"{peak[n] / 2 ** 20:.1f}" if n in peak else "–"
                         for n in ("hodphys", "torch.func", "hessQuik"))
        hq_ratio = f"{hq / t['hodphys']:.1f}" if hq else "–"
        lines.append(f"| {r['batch']} | {r['m']} | {r['d']} | {r['chosen']} | {_ms(t['hodphys'])} | "
                     f"{_ms(t['torch.func'])} | {_ms(hq) if hq else '–'} | {hq_ratio} | "
                     f"{t['torch.func'] / t['hodphys']:.1f} | {mem} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m hodphys.bench.studies.analytic [--quick]``: print all tables."""
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    scale, repeats = (0.05, 2) if quick else (1.0, 7)
    print(f"engines: {sorted(ENGINES)}; hessQuik installed: {hessquik.available()}\n")
    print(render_cases(issue_cases(repeats=repeats, batch_scale=scale)), "\n")
    print(render_floor(laplacian_floor(repeats=repeats, batch_scale=scale)), "\n")
    sweep = hessquik_sweep(dims=(1, 4, 16) if quick else tuple(2 ** k for k in range(11)),
                           batches=(10,) if quick else (10, 1000), repeats=2 if quick else 5)
    print(render_sweep(sweep))


if __name__ == "__main__":
    main()
