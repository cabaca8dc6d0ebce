"""SDE cases: the Fokker–Planck residual of dx = f dt + diag(g) dW with HollowNet drift and diffusion,
by the one-pass dimension-wise path (``hp.dim_derivative``, hollow engine: 1 + 3 backward passes) against
the same residual by brute-force autograd (``method="autograd"``: torch.func, d passes per order).

The density enters through fixed closed-form terms (an OU log-density), so only the derivatives of
f and g differ between the contenders. "train" cases time one training step's gradient,
∂(mean r²)/∂θ over the drift's and diffusion's parameters.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

import hodphys.sde as sde
from hodphys.bench.nets import randn
from hodphys.bench.registry import BenchEnv, BenchSpec, bench_case
from hodphys.nn import HollowNet

SIZES = (2, 8, 32, 128)
BATCH = {2: 64, 8: 64, 32: 64, 128: 16}  # d = 128: brute force takes minutes a repetition at batch 64


def _setup(env: BenchEnv, d: int, batch: int):
    torch.manual_seed(0)
    hollow = dict(hidden_features=8, width=32, transformer_width=32)
    drift = HollowNet(d, **hollow).to(env.device, env.dtype)
    diffusion = sde.DiagonalDiffusion(HollowNet(d, **hollow)).to(env.device, env.dtype)
    ou = sde.OrnsteinUhlenbeck(1.0, 0.5, 0.5, 0.3, d=d)
    x = randn(env, batch, d)
    t = randn(env, batch, seed=2).abs()
    terms = sde.DensityTerms(*(term.to(env.device, env.dtype) for term in ou.log_density_terms(x.double(), t.double())))
    return drift, diffusion, terms, x, t


def _residual_spec(env: BenchEnv, d: int, train: bool) -> BenchSpec:
    batch = env.size(BATCH.get(d, 16), 4)
    drift, diffusion, terms, x, t = _setup(env, d, batch)
    params = [*drift.parameters(), *diffusion.parameters()]

    def contender(method: str) -> Callable[[], Tensor]:
        def residual() -> Tensor:
            return sde.fokker_planck_residual(drift, diffusion, terms, x, t, method=method)

        def evaluation() -> Tensor:  # as in training (graphs built), returned without them
            return residual().detach()

        def gradient() -> Tensor:
            grads = torch.autograd.grad(residual().square().mean(), params)
            return torch.cat([g.reshape(-1) for g in grads])

        return gradient if train else evaluation

    what = "∂(mean r²)/∂θ of" if train else ""
    title = f"{what} the Fokker–Planck residual, HollowNet drift and diffusion, d = {d}, batch {batch}"
    return BenchSpec(title.strip(),
                     {"hp[hollow]": contender("auto"), "torch.func": contender("autograd")})


def _register(d: int) -> None:
    quick = {2: 2, 8: 3, 32: 4, 128: 5}[d]
    bench_case(f"sde-fp-residual-{d}", group="sde")(lambda env: _residual_spec(env, env.size(d, quick), False))
    bench_case(f"sde-fp-train-{d}", group="sde")(lambda env: _residual_spec(env, env.size(d, quick), True))


for _d in SIZES:
    _register(_d)
