"""Time per Newton iteration of the full-order cantilever: assembly (internal force + tangent
stiffness) and linear solve apart, interleaved with felupe on the same mesh when it is installed.

    python -m hodphys.bench.studies.fem                     # both shipped meshes, markdown table
    python -m hodphys.bench.studies.fem --repeat 3 meshes/beam_coarse.vtu

Every contender is timed in one interleaved run (hodphys.bench.timing): medians are comparable,
absolute times on a shared machine are not. BLAS/LAPACK is held to one thread.

Index letters: n_free free dofs.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from hodphys.bench.timing import interleaved, summarize
from hodphys.fem.cantilever import Cantilever
from hodphys.fem.linear_solvers import make_linear_solver
from hodphys.fem.material import NeoHookean
from hodphys.fem.mesh import read_mesh
from hodphys.fem.static import solve_static
from hodphys.io.resources import MESH_DIR

DEFAULT_MESHES = ("beam_coarse.vtu", "beam_fine.vtu")
# The test beam's material; the tip load bends it to about 0.2 of its length.
YOUNG, POISSON, DENSITY, TIP_LOAD = 1e7, 0.3, 1000.0, 50.0


def bent_beam(mesh_path: Path) -> tuple[Cantilever, np.ndarray]:
    """The cantilever on ``mesh_path`` and its equilibrium u (n_free,) under the tip load: a
    realistic state at which K is positive definite."""
    beam = Cantilever.build(read_mesh(mesh_path), NeoHookean.from_young_poisson(YOUNG, POISSON),
                            DENSITY)
    load = beam.tip_force(np.array([0.0, 0.0, -TIP_LOAD]))
    return beam, solve_static(beam.body, load, load_steps=1).displacement


def hodphys_contenders(beam: Cantilever, u: np.ndarray) -> tuple[dict[str, Callable], Callable]:
    """Assembly and each linear solver as zero-argument calls, and the Newton step (n_free,)."""
    body = beam.body
    stiffness, force = body.stiffness(u), body.internal_force(u)
    solvers = {name: make_linear_solver(name) for name in ("banded-cholesky", "superlu")}
    contenders = {"hodphys assembly": lambda: (body.internal_force(u), body.stiffness(u))}
    for name, solver in solvers.items():
        contenders[f"hodphys solve ({name})"] = (
            lambda solver=solver: solver.solve(stiffness, -force))
    return contenders, contenders["hodphys solve (banded-cholesky)"]


def felupe_contenders(beam: Cantilever, u: np.ndarray) -> tuple[dict[str, Callable], Callable]:
    """felupe's assembly and spsolve at the same state, and its Newton step on our free dofs."""
    from hodphys.bench.references.felupe import felupe_model, felupe_newton_parts

    body = beam.body
    model = felupe_model(body.mesh, body.material, body.density, body.dirichlet.nodes)
    model.field[0].values[:] = body.field(u)
    assemble, solve = felupe_newton_parts(model)
    system = assemble()
    contenders = {"felupe assembly": assemble, "felupe solve (spsolve)": lambda: solve(system)}
    return contenders, lambda: solve(system).reshape(-1)[body.assembler.free_dofs]


def bench_newton_iteration(mesh_path: Path, repeat: int = 5, warmup: int = 1,
                           with_felupe: bool = True, min_time: float = 0.05) -> dict[str, float | str]:
    """Median (and min) seconds per call of every contender on one mesh, the per-iteration totals
    and the speed-up; a sample averages back-to-back calls up to ≥ min_time seconds."""
    with threadpool_limits(limits=1):
        beam, u = bent_beam(mesh_path)
        contenders, our_step = hodphys_contenders(beam, u)
        row: dict[str, float | str] = {"mesh": Path(mesh_path).name,
                                       "free_dofs": beam.body.n_free,
                                       "elements": beam.mesh.n_cells}
        if with_felupe:
            theirs, their_step = felupe_contenders(beam, u)
            contenders |= theirs
            ours = our_step()
            row["step_difference"] = float(np.linalg.norm(their_step() - ours)
                                           / np.linalg.norm(ours))
        times, _ = interleaved(contenders, repeat=repeat, warmup=warmup, min_time=min_time)
    for name, samples in times.items():
        stats = summarize(samples)
        row[name], row[f"{name} min"] = stats["median"], stats["min"]
    for code, assembly, solve in (("hodphys", "hodphys assembly", "hodphys solve (banded-cholesky)"),
                                  ("felupe", "felupe assembly", "felupe solve (spsolve)")):
        if assembly in row:
            row[f"{code} iteration"] = row[assembly] + row[solve]
            row[f"{code} iteration min"] = row[f"{assembly} min"] + row[f"{solve} min"]
    if with_felupe:
        row["speed-up"] = row["felupe iteration"] / row["hodphys iteration"]
        row["speed-up min"] = row["felupe iteration min"] / row["hodphys iteration min"]
    return row


def growth_exponents(rows: list[dict]) -> dict[str, float]:
    """p in t ∝ n_free^p between the smallest and largest mesh, for every timed quantity."""
    small, large = min(rows, key=lambda r: r["free_dofs"]), max(rows, key=lambda r: r["free_dofs"])
    ratio = math.log(large["free_dofs"] / small["free_dofs"])
    return {key: math.log(large[key] / small[key]) / ratio for key in small
            if key.startswith(("hodphys", "felupe")) and not key.endswith(" min")}


def markdown_table(rows: list[dict]) -> str:
    """Median (min) milliseconds per contender (rows) and mesh (columns), the speed-up and the
    growth exponents of the medians."""
    header = ["", *(f"{r['mesh']} ({r['free_dofs']} dofs)" for r in rows)]
    keys = [k for k in rows[0] if k.startswith(("hodphys", "felupe")) and not k.endswith(" min")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [f"| {key} [ms] | " + " | ".join(f"{1e3 * r[key]:.2f} ({1e3 * r[key + ' min']:.2f})"
                                             for r in rows) + " |" for key in keys]
    if "speed-up" in rows[0]:
        lines.append("| speed-up (felupe / hodphys) | " + " | ".join(
            f"{r['speed-up']:.2f} ({r['speed-up min']:.2f})" for r in rows) + " |")
        lines.append("| relative difference of the Newton steps | "
                     + " | ".join(f"{r['step_difference']:.1e}" for r in rows) + " |")
    if len(rows) > 1:
        exponents = growth_exponents(rows)
        lines.append("")
        lines.append("growth t ∝ dofs^p: " + ", ".join(f"{k} p = {v:.2f}"
                                                        for k, v in exponents.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m hodphys.bench.studies.fem",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("meshes", nargs="*", default=[str(MESH_DIR / m) for m in DEFAULT_MESHES])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.05,
                        help="seconds a sample lasts at least (short calls are repeated)")
    parser.add_argument("--no-felupe", action="store_true", help="time hodphys alone")
    args = parser.parse_args(argv)
    with_felupe = not args.no_felupe
    if with_felupe:
        try:
            import felupe  # noqa: F401
        except ImportError:
            print("felupe is not installed (pip install 'hodphys[bench]'): timing hodphys alone")
            with_felupe = False
    rows = [bench_newton_iteration(Path(mesh), repeat=args.repeat, with_felupe=with_felupe,
                                   min_time=args.min_time) for mesh in args.meshes]
    print(markdown_table(rows))
    return rows


if __name__ == "__main__":
    main()
