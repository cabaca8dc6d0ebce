"""The PINN case: one training step of the 8-output Poisson network (2 → 100×5 → 8 tanh,
2048 interior + 512 boundary points) — forward, Laplacian loss, backward — with each contender's
Laplacian (see :mod:`hodphys.bench.studies.pinn`). Every contender returns ∇_θ L; torch.func is the
reference. DeepXDE appears when it is installed (``pip install hodphys[bench]``).
"""
from __future__ import annotations

from hodphys.bench.registry import BenchEnv, BenchSpec, bench_case
from hodphys.bench.studies.pinn import laplacians, poisson_step_inputs, training_step


@bench_case("pinn-train-step", group="pinn")
def pinn_train_step(env: BenchEnv) -> BenchSpec:
    """∇_θ of the Poisson PINN loss, one training step."""
    widths = (env.size(100, 8),) * env.size(5, 2)
    n, n_b = env.size(2048, 16), env.size(512, 8)
    model, x, f, x_b, g = poisson_step_inputs(env.dtype, n, n_b, widths)
    model, x, f, x_b, g = model.to(env.device), *(t.to(env.device) for t in (x, f, x_b, g))
    contenders = {name: training_step(fn, model, x, f, x_b, g) for name, fn in laplacians().items()}
    layout = "→".join(map(str, (2, *widths, 8)))
    return BenchSpec(f"PINN training step (Laplacian loss + backward) of {layout}, {n} + {n_b} points",
                     contenders)
