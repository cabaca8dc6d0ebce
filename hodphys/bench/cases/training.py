"""Training cases: a derivative inside a loss, and the loss's gradient with respect to the
weights — what one PINN optimisation step costs on top of the forward pass."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

import hodphys as hp
from hodphys.bench.references import baselines as base
from hodphys.bench.nets import engine_contenders, randn, tanh_mlp
from hodphys.bench.registry import BenchEnv, BenchSpec, bench_case


def _weight_gradient(model: nn.Module, laplacian: Callable[[], Tensor]) -> Callable[[], Tensor]:
    """() ↦ ∂(mean Δf²)/∂θ, flattened (the residual loss of Poisson's equation Δu = 0)."""
    params = list(model.parameters())

    def run() -> Tensor:
        loss = laplacian().square().mean()
        grads = torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)
        return torch.cat([g.reshape(-1) for g in grads])

    return run


@bench_case("A-laplacian-pinn-train", group="training")
def laplacian_pinn_train(env: BenchEnv) -> BenchSpec:
    """∂(mean Δf²)/∂θ for case A's 2 → 100×5 → 8 net, batch 2048 (one PINN gradient)."""
    widths = [2] + [env.size(100, 8)] * env.size(5, 2) + [env.size(8, 3)]
    batch = env.size(2048, 16)
    model = tanh_mlp(widths, env, trainable=True)
    x = randn(env, batch, widths[0])
    hodphys = engine_contenders(lambda method: hp.laplacian(model, x, method=method), model, x, "laplacian")
    contenders = {name: _weight_gradient(model, fn) for name, fn in hodphys.items()}
    contenders["torch.func"] = _weight_gradient(model, base.func_laplacian(model, x))
    contenders["autograd loop"] = _weight_gradient(model, base.loop_laplacian(model, x, keep_graph=True))
    layout = "→".join(map(str, widths))
    return BenchSpec(f"gradient of mean (Δf)² w.r.t. the weights of a tanh MLP {layout}, batch {batch}",
                     contenders)
