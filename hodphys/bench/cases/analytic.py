"""Cases of the analytic engine (issue 3): the 1000-d Laplacian, and hessQuik's own timing sweep.

* group "analytic": E — the Laplacian of 1000 → 128×3 → 1, batch 128 (first-layer factoring);
* group "hessquik": hessQuik's timing network (singleLayer(d→16, antiTanh), 4 residual layers of
  width 16 with h = 0.5 and tanh, singleLayer(16→m)) for d = 2⁰..2¹⁰, m ∈ {1, 8}, batch 10 and
  1000 — hp.hessian against torch.func and, when installed, hessQuik with identical weights.
  Cells whose Hessian alone exceeds 512 MiB (batch 1000, large d) are not registered.
"""
from __future__ import annotations

import hodphys as hp
from hodphys.bench.references import hessquik
from hodphys.bench.studies.analytic import timing_network
from hodphys.bench.references import baselines as base
from hodphys.bench.nets import engine_contenders, randn, tanh_mlp
from hodphys.bench.registry import BenchEnv, BenchSpec, bench_case

HESSIAN_BUDGET = 2 ** 29  # bytes of the (N, m, d, d) float32 result


@bench_case("E-laplacian-1000d", group="analytic")
def laplacian_1000d(env: BenchEnv) -> BenchSpec:
    """Δf of 1000 → 128×3 → 1, batch 128: d ≫ width, the first layer is factored."""
    widths = [env.size(1000, 12), *[env.size(128, 6)] * 3, 1]
    model, x = tanh_mlp(widths, env), randn(env, env.size(128, 4), widths[0])
    contenders = engine_contenders(lambda method: hp.laplacian(model, x, method=method), model, x, "laplacian")
    contenders["torch.func"] = base.func_laplacian(model, x)
    return BenchSpec(f"Laplacian of a tanh MLP {'→'.join(map(str, widths))}, batch {x.shape[0]}", contenders)


def _sweep_case(d: int, m: int, batch: int):
    def build(env: BenchEnv) -> BenchSpec:
        dim, n = env.size(d, min(d, 3)), env.size(batch, 2)
        model = timing_network(dim, m).to(env.device, env.dtype).requires_grad_(False)
        x = randn(env, n, dim)
        contenders = engine_contenders(lambda method: hp.hessian(model, x, method=method), model, x, "hessian")
        contenders["torch.func"] = base.func_hessian(model, x)
        if hessquik.available():
            twin = hessquik.to_hessquik(model).requires_grad_(False)
            contenders["hessQuik"] = lambda: twin(x, do_gradient=True, do_Hessian=True)[2].permute(0, 3, 1, 2)
        return BenchSpec(f"Hessian of hessQuik's timing ResNet, d={dim}, m={m}, batch {n}", contenders)

    build.__doc__ = f"hessQuik timing network: Hessian at d={d}, m={m}, batch {batch}."
    build.__qualname__ = f"hessquik_sweep_d{d}_m{m}_n{batch}"
    return build


for _batch in (10, 1000):
    for _m in (1, 8):
        for _d in (2 ** k for k in range(11)):
            if _batch * _m * _d * _d * 4 <= HESSIAN_BUDGET:
                bench_case(f"HQ-d{_d}-m{_m}-n{_batch}", group="hessquik")(_sweep_case(_d, _m, _batch))
