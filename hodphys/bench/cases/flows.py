"""CNF cases: one training iteration (log-likelihood forward and backward) and one log_prob, with the
trace of the same time-conditioned HollowNet taken exactly in one pass (hollow engine), by
Hutchinson's estimator, by brute force (d backward passes) — and by zuko's CNF when installed.

NFE-normalised: every hodphys contender integrates with fixed-step rk4 over the same grid
(``STEPS`` steps, 4 evaluations each), so per-call times compare work per function evaluation
directly. zuko integrates adaptively; its evaluations per call are counted once and stated in
the case description. zuko's CNF is given the same HollowNet as its vector field (same network,
same size): it differentiates it as a general network (d batched backward passes when exact).

Results are per-sample log-likelihoods; Hutchinson's are unbiased estimates, so the check is on
the batch mean: the error is what remains beyond 4 standard errors of the per-sample differences.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from hodphys.bench.nets import randn
from hodphys.bench.registry import BenchEnv, BenchSpec, bench_case
from hodphys.flows import CNF, ODEOptions, hollow_dynamics

STEPS = 1  # rk4 steps over [0, 1]: 4 function evaluations per solve
BATCH = {2: 512, 16: 256, 64: 128, 256: 32}  # brute force at d = 256 costs seconds per call
Thunk = Callable[[], Tensor]


def unbiased_error(result: Tensor, reference: Tensor) -> float:
    """|mean(result − reference)| beyond 4 standard errors, relative to mean |reference|."""
    if result.shape != reference.shape:
        return float("inf")
    difference = (result - reference).double()
    standard_error = difference.std() / math.sqrt(difference.numel()) if difference.numel() > 1 else 0.0
    excess = (difference.mean().abs() - 4 * standard_error).clamp_min(0)
    return float(excess / reference.double().abs().mean().clamp_min(1e-30))


def _network(env: BenchEnv, d: int) -> nn.Module:
    torch.manual_seed(0)
    return hollow_dynamics(d, hidden_features=8, width=32).to(env.device, env.dtype)


def _hodphys(net: nn.Module, x: Tensor, train: bool) -> dict[str, Thunk]:
    ode = ODEOptions(method="rk4", steps=STEPS)
    flows = {"hp exact (hollow, 1 pass)": CNF(net, ode=ode), "hp hutchinson": CNF(net, trace="hutchinson", ode=ode),
             "hp brute (d passes)": CNF(net, trace="brute", ode=ode)}
    return {name: _iteration(net, flow.log_prob, x) if train else _no_grad(flow.log_prob, x)
            for name, flow in flows.items()}


def _iteration(net: nn.Module, log_prob: Callable[[Tensor], Tensor], x: Tensor) -> Thunk:
    """() ↦ per-sample log p after ∂(mean NLL)/∂θ was accumulated: one training iteration's work."""
    def run() -> Tensor:
        net.zero_grad(set_to_none=True)
        values = log_prob(x)
        (-values.mean()).backward()
        return values.detach()

    return run


def _no_grad(log_prob: Callable[[Tensor], Tensor], x: Tensor) -> Thunk:
    def run() -> Tensor:
        with torch.no_grad():
            return log_prob(x)

    return run


def _zuko(net: nn.Module, x: Tensor, train: bool) -> tuple[dict[str, Thunk], str]:
    """zuko's CNF (exact and Hutchinson) with ``net`` as its vector field, and its counted NFE."""
    try:
        import zuko
    except ImportError:
        return {}, "zuko not installed"
    calls = [0]
    contenders = {}
    for exact in (True, False):
        flow = zuko.flows.CNF(x.shape[-1], exact=exact).to(x.device, x.dtype)
        flow.transform.ode = net  # in place of zuko's MLP: its parameters are the ones zuko's adjoint sees
        flow.transform.f = lambda t, z, c=None: (calls.__setitem__(0, calls[0] + 1), net(z, t))[1]
        log_prob = lambda points, flow=flow: flow().log_prob(points)  # noqa: E731
        contenders[f"zuko {'exact' if exact else 'hutchinson'}"] = \
            _iteration(net, log_prob, x) if train else _no_grad(log_prob, x)
    contenders["zuko exact"]()
    return contenders, f"zuko: {calls[0]} evaluations per call (adaptive)"


def _case(env: BenchEnv, d: int, train: bool) -> BenchSpec:
    d_used, batch = env.size(d, 3), env.size(BATCH[d], 8)
    net = _network(env, d_used)
    x = randn(env, batch, d_used)
    contenders = _hodphys(net, x, train)
    zuko_contenders, zuko_nfe = _zuko(net, x, train)
    contenders.update(zuko_contenders)
    what = "training iteration (log p forward + backward to the weights)" if train else "log_prob (no grad)"
    return BenchSpec(f"CNF {what}, time-conditioned HollowNet (c 8, width 32) in d = {d_used}, batch {batch}; "
                     f"hp: rk4 {STEPS} step(s), {4 * STEPS} evaluations per solve; {zuko_nfe}",
                     contenders, reference="hp brute (d passes)", check=unbiased_error)


def _register(d: int, train: bool) -> None:
    kind = "train" if train else "logprob"
    bench_case(f"flows-{kind}-d{d}", group="flows")(lambda env: _case(env, d, train))


for _d in BATCH:
    _register(_d, train=True)
    _register(_d, train=False)
