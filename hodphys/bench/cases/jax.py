"""Group "jax": hodphys against JAX ``jit(vmap(…))`` on the HoD-Net paper's Fig. 3 and against folx.

* Fig. 3 (HoD-Net, AAAI 2022, "Time Performance Comparison"): 8 fully connected layers with ELU,
  N → 200×7 → M for N → M ∈ {40 → 400, 200 → 200, 400 → 40}; the Jacobian and the Hessian at
  batch 1 and 16 — JAX: ``jacfwd`` (d ≤ m) or ``jacrev``, and ``hessian`` (jacfwd of jacrev);
* the foundation Laplacians A (2 → 100×5 → 8 tanh, batch 2048) and B (20 → 128×4 → 1 tanh,
  batch 512) — folx's forward Laplacian.

The JAX contender is the reference (speed-up = t_JAX / t, so > 1 means hodphys is faster) and
runs with the same weights, on one thread (:mod:`hodphys.bench.references.jax_twin`); every
engine that serves the quantity and ``auto`` are timed beside it, and on the Jacobian and
Laplacian cases jit's peer in hodphys, the compiled plan ``hp.plan(model, x, quantity).compile()``
(traced once, weights frozen, Inductor with its C++ wrapper; checked against the eager call before
timing). Both compile before timing; their compile seconds are reported apart (``setup_s``). The
Hessians have no compiled contender: their traces are thousands of ops (one per tangent pair for
the σ″ terms), Inductor takes minutes on them, and eager hodphys already leads JAX there. Needs the ``jax`` extra
(``pip install -e '.[jax]'``); without it the cases are reported as skipped, and without folx
(e.g. a CUDA image with jax only) the two Laplacian cases are. With ``--device cuda`` JAX runs on
the same GPU (:mod:`~hodphys.bench.references.jax_twin`); both sides are synchronised per sample.
"""
from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

import hodphys as hp
from hodphys.bench.nets import engine_contenders, mlp, randn
from hodphys.bench.references import jax_twin
from hodphys.bench.registry import TOLERANCE, BenchEnv, BenchSpec, CaseSkipped, bench_case
from hodphys.metrics import relative_error

FIG3_SHAPES = ((40, 400), (200, 200), (400, 40))
FIG3_WIDTH, FIG3_HIDDEN = 200, 7


def _require_jax(x: Tensor, folx: bool = False) -> None:
    """Skip (with what to install) unless JAX — and folx if asked — can run on x's device."""
    if not jax_twin.available():
        raise CaseSkipped(jax_twin.MISSING)
    if folx and not jax_twin.folx_available():
        raise CaseSkipped(jax_twin.MISSING_FOLX)
    try:
        jax_twin.device_of(x)
    except RuntimeError as err:
        raise CaseSkipped(str(err)) from err


def add_compiled(contenders: dict, setup: dict[str, float], model: nn.Module, x: Tensor, quantity: str,
                 env: BenchEnv) -> None:
    """Add ``compiled hp[auto→engine]``, the compiled plan (C++ wrapper but in quick mode), its compile
    seconds to ``setup``; nothing where it could not compile. RuntimeError if it disagrees with eager."""
    planned = hp.plan(model, x, quantity)
    compiled = planned.compile(cpp_wrapper=not env.quick)
    got, eager = compiled(x), planned(x)
    if compiled.failure is not None:
        return
    error = float(relative_error(got, eager))
    if error > TOLERANCE[x.dtype] / 10:
        raise RuntimeError(f"the compiled plan differs from the eager call by {error:.1e} (relative)")
    name = f"compiled hp[auto→{planned.engine_name}]"
    contenders[name], setup[name] = (lambda: compiled(x)), compiled.compile_seconds


def fig3_network(d: int, m: int, env: BenchEnv) -> nn.Sequential:
    """d → 200×7 → m with ELU (8 linear layers), seeded; tiny in quick mode."""
    width, hidden = env.size(FIG3_WIDTH, 6), env.size(FIG3_HIDDEN, 2)
    return mlp([env.size(d, max(d // 100, 1) + 1), *[width] * hidden, env.size(m, max(m // 100, 1) + 1)],
               env, nn.ELU)


def _fig3_case(quantity: str, d: int, m: int, batch: int) -> Callable[[BenchEnv], BenchSpec]:
    def build(env: BenchEnv) -> BenchSpec:
        model = fig3_network(d, m, env)
        x = randn(env, batch, model[0].in_features)
        _require_jax(x)
        call = getattr(hp, quantity)
        contenders = engine_contenders(lambda method: call(model, x, method=method), model, x, quantity)
        # torch.func's algorithm (timed in group foundation) takes 10–25 s a call here
        if quantity == "hessian" and batch > 1:
            contenders.pop("hp[autograd]", None)
        contenders["JAX"] = getattr(jax_twin, quantity)(model, x)
        setup = {"JAX": contenders["JAX"].compile_seconds}
        if quantity == "jacobian":
            add_compiled(contenders, setup, model, x, quantity, env)
        layout = f"{model[0].in_features}→{model[2].in_features}×{len(model) // 2}→{model[-1].out_features}"
        return BenchSpec(f"{quantity} of the Fig. 3 ELU net {layout}, batch {batch} (JAX: jit(vmap(…)))",
                         contenders, reference="JAX", setup_seconds=setup)

    build.__doc__ = f"HoD-Net Fig. 3: {quantity} of {d} → 200×7 → {m} (ELU), batch {batch}, against JAX."
    build.__qualname__ = f"fig3_{quantity}_{d}_{m}_b{batch}"
    return build


for _quantity in ("jacobian", "hessian"):
    for _batch in (1, 16):
        for _d, _m in FIG3_SHAPES:
            bench_case(f"F3-{_quantity[:4]}-{_d}-{_m}-b{_batch}", group="jax")(_fig3_case(_quantity, _d, _m, _batch))


def _folx_case(widths: list[int], batch: int, env: BenchEnv) -> BenchSpec:
    model = mlp(widths, env, nn.Tanh)
    x = randn(env, batch, widths[0])
    _require_jax(x, folx=True)
    contenders = engine_contenders(lambda method: hp.laplacian(model, x, method=method), model, x, "laplacian")
    contenders["folx"] = jax_twin.folx_laplacian(model, x)
    setup = {"folx": contenders["folx"].compile_seconds}
    add_compiled(contenders, setup, model, x, "laplacian", env)
    return BenchSpec(f"Laplacian of every output of a tanh MLP {'→'.join(map(str, widths))}, batch {batch} "
                     f"(folx: jit(vmap(forward_laplacian)))", contenders, reference="folx", setup_seconds=setup)


@bench_case("A-laplacian-folx", group="jax")
def laplacian_a_folx(env: BenchEnv) -> BenchSpec:
    """Foundation case A, Δf of 2 → 100×5 → 8 tanh at batch 2048, against folx."""
    width = env.size(100, 8)
    return _folx_case([2] + [width] * env.size(5, 2) + [env.size(8, 3)], env.size(2048, 16), env)


@bench_case("B-laplacian-folx", group="jax")
def laplacian_b_folx(env: BenchEnv) -> BenchSpec:
    """Foundation case B, Δf of 20 → 128×4 → 1 tanh at batch 512, against folx."""
    return _folx_case([env.size(20, 5)] + [env.size(128, 8)] * env.size(4, 2) + [1], env.size(512, 16), env)
