"""The PINN suite: one training step (loss + ∇θ) of each built-in PINN problem, three ways.

Every contender computes ∇θ of the same loss — the problem's own network, points, condition
terms and PDE — and differs only in how the residual's partial derivatives are taken:

* ``hodphys`` — the problem's ``loss`` (one :func:`hodphys.partials` call, ``method="auto"``), eager;
* ``hodphys compiled`` — the same loss through torch.compile (:mod:`hodphys.train.compiled`, what a
  long default run uses; the partials then come from the forward jet), compiled before timing;
* ``hand-written autograd`` (the reference) — ``torch.autograd.grad`` as one writes it by hand:
  ∇u_k = grad(Σ u_k, x), then grad(Σ ∂u_k/∂x_i, x) for each Hessian row the residual reads;
* ``DeepXDE`` — ``dde.grad.jacobian`` / ``dde.grad.hessian`` (DeepXDE 1.15, PyTorch backend,
  with its per-output caches), when DeepXDE is installed (``pip install hodphys[bench]``).

    hodphys bench --group pinn-suite
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable

import torch
from torch import Tensor

from hodphys.bench.registry import BenchEnv, BenchSpec, bench_case
from hodphys.io.resources import PROBLEMS_DIR, load_python_file
from hodphys.partials import Plan, combined
from hodphys.train import compiled

SUITE = {"burgers": "burgers.py", "poisson-lshape": "poisson_lshape.py", "kovasznay": "kovasznay.py",
         "heat": "heat.py", "diffusion-inverse": "diffusion_inverse.py", "wave": "wave.py"}
Partials = Callable[[torch.nn.Module, Tensor, Plan], dict[str, Tensor]]


def hand_written(model: torch.nn.Module, x: Tensor, plan: Plan) -> dict[str, Tensor]:
    """The partials by torch.autograd.grad, written out as a user would."""
    u = model(x)
    out, grads, rows = {}, {}, {}
    for name, term in plan.terms.items():
        k = term[1]
        if term[0] == "value":
            out[name] = u[:, k:k + 1]
            continue
        if k not in grads:
            grads[k] = torch.autograd.grad(u[:, k].sum(), x, create_graph=True)[0]
        if term[0] == "first":
            out[name] = grads[k][:, term[2]:term[2] + 1]
            continue
        pairs = [(term[2], term[3])] if term[0] == "second" else [(i, i) for i in plan.spatial]
        total = 0
        for i, j in pairs:
            if (k, i) not in rows:
                rows[(k, i)] = torch.autograd.grad(grads[k][:, i].sum(), x, create_graph=True)[0]
            total = total + rows[(k, i)][:, j:j + 1]
        out[name] = total
    return out


def deepxde(model: torch.nn.Module, x: Tensor, plan: Plan) -> dict[str, Tensor]:
    """The partials by DeepXDE's gradient operators (cleared per call, as its Model does per step)."""
    import deepxde as dde

    dde.grad.clear()
    u = model(x)
    out = {}
    for name, term in plan.terms.items():
        kind, k = term[0], term[1]
        if kind == "value":
            out[name] = u[:, k:k + 1]
        elif kind == "first":
            out[name] = dde.grad.jacobian(u, x, i=k, j=term[2])
        elif kind == "second":
            out[name] = dde.grad.hessian(u, x, component=k, i=term[2], j=term[3])
        else:
            out[name] = sum(dde.grad.hessian(u, x, component=k, i=i, j=i) for i in plan.spatial)
    return out


def summed(partials: Partials) -> Partials:
    """``partials`` with the residual's declared combinations (u_t − ν u_xx) summed from their parts,
    as a user of that way writes them."""
    return lambda net, x, plan: combined(plan, lambda p: partials(net, x, p))


def _step(problem, model: torch.nn.Module, batch: dict[str, Tensor], partials: Partials | None,
          problem_loss: Callable | None = None) -> Callable[[], Tensor]:
    """∇θ of the problem's loss with the residual's partials from ``partials`` (None: ``problem_loss``,
    by default the problem's own eager loss)."""
    problem_loss = problem_loss or problem.loss
    params = [p for p in model.parameters() if p.requires_grad]
    net = problem.network(model)
    plan = problem.pde_plan(dict(getattr(model, "coefficients", {})))

    def loss() -> Tensor:
        if partials is None:
            return problem_loss(model, batch)[0]
        x = batch["interior"].detach().requires_grad_(True)
        fields = {"points": x, **{n: x[:, i:i + 1] for i, n in enumerate(problem.inputs)}}
        fields.update(getattr(model, "coefficients", {}))
        fields.update(partials(net, x, plan))
        terms = [problem.pde(fields).square().mean()]
        terms += [c.weight * c.loss(problem, model, batch) for c in problem.conditions]
        return sum(terms)

    def step() -> Tensor:
        grads = torch.autograd.grad(loss(), params, allow_unused=True, materialize_grads=True)
        return torch.cat([g.reshape(-1) for g in grads])

    return step


def suite_problem(name: str, env: BenchEnv) -> tuple:
    """(problem, model, batch): the built-in problem at its default sizes (tiny with ``quick``),
    its seeded model and one seeded sample of its points."""
    module = load_python_file(PROBLEMS_DIR / SUITE[name], f"hodphys_bench_problem_{name}")
    config = module.Config(dtype="float64" if env.dtype == torch.float64 else "float32")
    if env.quick:
        config.n_interior, config.n_boundary, config.widths = 64, 16, [8, 8]
    problem = module.problem(config)
    problem.device = env.device
    torch.manual_seed(0)
    model = problem.build_model()
    batch = {k: v.to(env.device) for k, v in problem.sample(torch.Generator().manual_seed(1)).items()}
    return problem, model, batch


def suite_spec(name: str, env: BenchEnv, compile_contender: bool = True) -> BenchSpec:
    """The case: hodphys (eager, and compiled unless ``quick`` or not ``compile_contender``), hand-written
    autograd and DeepXDE on one step of the problem."""
    problem, model, batch = suite_problem(name, env)
    config = problem.config
    contenders = {"hodphys": _step(problem, model, batch, None),
                  "hand-written autograd": _step(problem, model, batch, summed(hand_written))}
    note = ""
    if compile_contender and not env.quick and problem.compile_friendly(model):  # seconds to compile: not quick
        loss = compiled.CompiledLoss(problem.loss, logging.getLogger("hodphys.bench"))
        contenders["hodphys compiled"] = _step(problem, model, batch, None, loss)
        contenders["hodphys compiled"]()  # compiles here: the timed calls reuse the compiled code
        default = "compiled" if compiled.wanted(problem, model, config) else "eager"
        note = f"; compiling took {loss.seconds:.1f} s CPU (not timed); a default run is {default}"
    if _deepxde_available():
        contenders["DeepXDE"] = _step(problem, model, batch, summed(deepxde))
    layout = "→".join(map(str, (problem.geometry.dim, *config.widths, problem.outputs)))
    return BenchSpec(f"{name}: one training step (loss + ∇θ) of {layout}, {config.n_interior} interior points"
                     f"{note}", contenders, reference="hand-written autograd")


def _deepxde_available() -> bool:
    import importlib.util

    if importlib.util.find_spec("deepxde") is None:
        return False
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    default = torch.get_default_dtype()
    import deepxde  # noqa: F401  (sets torch's default dtype: put it back)
    torch.set_default_dtype(default)
    return True


def _register(name: str) -> None:
    def build(env: BenchEnv) -> BenchSpec:
        return suite_spec(name, env)
    build.__doc__ = f"{name}: loss + ∇θ per training step, hodphys vs hand-written autograd vs DeepXDE"
    build.__qualname__ = f"pinn_suite_{name}"
    bench_case(f"pinn-{name}", group="pinn-suite")(build)


for _name in SUITE:
    _register(_name)
