"""The foundation cases: tanh MLPs from PINNs (A, B), a full Hessian (C) and a reduced-order
decoder (D, the HoD-Net paper's 6 → 1542 beam), each against torch.func and autograd loops.

Sizes are the full ones; ``--quick`` shrinks every dimension to a few units.
"""
from __future__ import annotations

import hodphys as hp
from hodphys.bench.references import baselines as base
from hodphys.bench.nets import engine_contenders, randn, tanh_mlp
from hodphys.bench.registry import BenchEnv, BenchSpec, bench_case


def _laplacian_spec(env: BenchEnv, widths: list[int], batch: int) -> BenchSpec:
    model = tanh_mlp(widths, env)
    x = randn(env, batch, widths[0])
    contenders = engine_contenders(lambda method: hp.laplacian(model, x, method=method), model, x, "laplacian")
    contenders["torch.func"] = base.func_laplacian(model, x)
    contenders["autograd loop"] = base.loop_laplacian(model, x)
    layout = "→".join(map(str, widths))
    return BenchSpec(f"Laplacian of every output of a tanh MLP {layout}, batch {batch}", contenders)


@bench_case("A-laplacian-pinn", group="foundation")
def laplacian_pinn(env: BenchEnv) -> BenchSpec:
    """Δf of all 8 outputs of 2 → 100×5 → 8 (a 2-D PINN), batch 2048."""
    width = env.size(100, 8)
    return _laplacian_spec(env, [2] + [width] * env.size(5, 2) + [env.size(8, 3)], env.size(2048, 16))


@bench_case("B-laplacian-20d", group="foundation")
def laplacian_20d(env: BenchEnv) -> BenchSpec:
    """Δf of 20 → 128×4 → 1 (a high-dimensional Poisson problem), batch 512."""
    return _laplacian_spec(env, [env.size(20, 5)] + [env.size(128, 8)] * env.size(4, 2) + [1],
                           env.size(512, 16))


@bench_case("C-hessian", group="foundation")
def full_hessian(env: BenchEnv) -> BenchSpec:
    """The full Hessian of 16 → 64×4 → 1, batch 1024."""
    widths = [env.size(16, 4)] + [env.size(64, 8)] * env.size(4, 2) + [1]
    batch = env.size(1024, 16)
    model = tanh_mlp(widths, env)
    x = randn(env, batch, widths[0])
    contenders = engine_contenders(lambda method: hp.hessian(model, x, method=method), model, x, "hessian")
    contenders["torch.func"] = base.func_hessian(model, x)
    contenders["autograd loop"] = base.loop_hessian(model, x)
    layout = "→".join(map(str, widths))
    return BenchSpec(f"full Hessian of a tanh MLP {layout}, batch {batch}", contenders)


def _decoder(env: BenchEnv):
    """The reduced-order decoder 6 → 64 → 128 → 256 → 1542 at one q, with q̇ and a weight w."""
    widths = [6, 64, 128, 256, 1542] if not env.quick else [3, 8, 8, 8, 20]
    model = tanh_mlp(widths, env)
    q, qd, w = randn(env, 1, widths[0], seed=1), randn(env, 1, widths[0], seed=2), randn(env, 1, widths[-1], seed=3)
    return model, q, qd, w, "→".join(map(str, widths))


@bench_case("D-rom-jacobian", group="foundation")
def rom_jacobian(env: BenchEnv) -> BenchSpec:
    """∂u/∂q of the decoder, (1, 1542, 6), against jacfwd."""
    model, q, _, _, layout = _decoder(env)
    contenders = engine_contenders(lambda method: hp.jacobian(model, q, method=method), model, q, "jacobian")
    contenders["torch.func"] = base.func_jacobian(model, q, forward=True)
    contenders["autograd loop"] = base.loop_jacobian(model, q)
    return BenchSpec(f"Jacobian of the ROM decoder {layout}, batch 1 (torch.func: jacfwd)", contenders)


@bench_case("D-rom-directional", group="foundation")
def rom_directional(env: BenchEnv) -> BenchSpec:
    """∇²u[q̇, q̇] (the acceleration term of ü), (1, 1542), against nested jvp."""
    model, q, qd, _, layout = _decoder(env)
    contenders = engine_contenders(lambda method: hp.directional(model, q, [qd, qd], method=method),
                                   model, q, "directional", vs=[qd, qd])
    contenders["torch.func"] = base.func_directional(model, q, qd)
    contenders["autograd loop"] = base.loop_directional(model, q, qd)
    return BenchSpec(f"∇²f[q̇,q̇] of the ROM decoder {layout}, batch 1 (torch.func: jvp∘jvp)", contenders)


@bench_case("D-rom-directional-grad", group="foundation")
def rom_directional_grad(env: BenchEnv) -> BenchSpec:
    """∇_q(wᵀ∇²u[q̇, q̇]) (Newton's third-order term), (1, 6), against jacrev of nested jvp."""
    model, q, qd, w, layout = _decoder(env)
    contenders = engine_contenders(lambda method: hp.directional_grad(model, q, [qd, qd], w, method=method),
                                   model, q, "directional_grad", vs=[qd, qd], w=w)
    contenders["torch.func"] = base.func_directional_grad(model, q, qd, w)
    contenders["autograd loop"] = base.loop_directional_grad(model, q, qd, w)
    return BenchSpec(f"∇_q(wᵀ∇²f[q̇,q̇]) of the ROM decoder {layout}, batch 1 "
                     f"(torch.func: jacrev∘jvp∘jvp)", contenders)
