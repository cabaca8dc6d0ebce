"""HollowNet cases: the exact divergence from one backward pass ("hollow" engine) against the trace
of torch.func's full Jacobian of the same network.

The d = 8 … 1024 growth and the d = 256, batch 512 figure are ``python -m hodphys.bench.studies.hollow``;
here the sizes keep the brute-force reference to seconds per repetition.
"""
from __future__ import annotations


import hodphys as hp
from hodphys.bench.nets import engine_contenders, randn
from hodphys.bench.registry import BenchEnv, BenchSpec, bench_case
from hodphys.bench.studies.hollow import benchmark_net, brute_force_divergence


def _divergence(env: BenchEnv, d: int, batch: int) -> BenchSpec:
    net = benchmark_net(d).to(env.device, env.dtype)
    net.requires_grad_(False)
    x = randn(env, batch, d)
    contenders = engine_contenders(lambda method: hp.divergence(net, x, method=method), net, x, "divergence")
    contenders.pop("hp[autograd]", None)  # the same computation as the reference below
    contenders["torch.func"] = lambda: brute_force_divergence(net, x)
    return BenchSpec(f"divergence of a HollowNet (sum conditioner, width 32) in d = {d}, batch {batch}",
                     contenders)


@bench_case("hollow-divergence-64", group="hollow")
def divergence_64(env: BenchEnv) -> BenchSpec:
    """d = 64, batch 512."""
    return _divergence(env, env.size(64, 6), env.size(512, 8))


@bench_case("hollow-divergence-256", group="hollow")
def divergence_256(env: BenchEnv) -> BenchSpec:
    """d = 256, batch 32 (the brute force at batch 512 takes minutes a repetition)."""
    return _divergence(env, env.size(256, 10), env.size(32, 4))


