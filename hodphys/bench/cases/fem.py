"""FEM cases: one Newton iteration (internal force + tangent stiffness + linear solve) of the
full-order cantilever at a bent equilibrium, against felupe on the same mesh when it is installed.

The split into assembly and solve, and the growth with DOFs, is ``python -m hodphys.bench.studies.fem``.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from hodphys.bench.registry import BenchEnv, BenchSpec, bench_case
from hodphys.bench.studies.fem import bent_beam
from hodphys.io.resources import MESH_DIR
from hodphys.fem.linear_solvers import make_linear_solver


def _single_threaded(step: Callable[[], np.ndarray]) -> Callable[[], torch.Tensor]:
    """The step as a torch tensor, with BLAS/LAPACK held to one thread like torch."""
    def run() -> torch.Tensor:
        with threadpool_limits(limits=1):
            return torch.from_numpy(np.asarray(step(), dtype=np.float64))

    return run


def _newton_iteration(mesh: str, env: BenchEnv) -> BenchSpec:
    beam, u = bent_beam(MESH_DIR / mesh)
    body = beam.body
    contenders = {}
    for name in ("banded-cholesky", "superlu"):
        solver = make_linear_solver(name)
        contenders[f"hodphys ({name})"] = _single_threaded(
            lambda solver=solver: solver.solve(body.stiffness(u), -body.internal_force(u)))
    reference = "hodphys (superlu)"
    if importlib.util.find_spec("felupe") is not None:
        from hodphys.bench.references.felupe import felupe_model, felupe_newton_parts

        model = felupe_model(body.mesh, body.material, body.density, body.dirichlet.nodes)
        model.field[0].values[:] = body.field(u)
        assemble, solve = felupe_newton_parts(model)
        contenders["felupe"] = _single_threaded(
            lambda: solve(assemble()).reshape(-1)[body.assembler.free_dofs])
        reference = "felupe"
    return BenchSpec(f"one Newton iteration (assembly + solve) of the neo-Hookean cantilever on {mesh}, "
                     f"{body.n_free} free DOFs, float64", contenders, reference=reference, tolerance=1e-8)


@bench_case("fem-newton-coarse", group="fem")
def newton_coarse(env: BenchEnv) -> BenchSpec:
    """The paper-sized beam (1440 free DOFs)."""
    return _newton_iteration("beam_coarse.vtu", env)


@bench_case("fem-newton-fine", group="fem")
def newton_fine(env: BenchEnv) -> BenchSpec:
    """The fine beam (19440 free DOFs); the coarse one in quick mode."""
    return _newton_iteration("beam_coarse.vtu" if env.quick else "beam_fine.vtu", env)
