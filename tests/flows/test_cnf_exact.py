"""CNF log-densities against closed forms and against brute-force traces; transport round trips."""
from __future__ import annotations

import math

import pytest
import torch

import hodphys as hp
from hodphys.flows import CNF, ODEOptions, TimeConditionedMLP, bind
from tests.flows.models import LinearDynamics, points, small_hollow
from tests.helpers import assert_close_rel

TIGHT = ODEOptions(atol=1e-10, rtol=1e-10)


def _gaussian_log_prob(x: torch.Tensor, A: torch.Tensor, t1: float) -> torch.Tensor:
    """Closed form for f = (1 + t) A z: z(T) = M x with M = exp(A(T + T²/2)), log p = log N(Mx) + tr log M."""
    s = t1 + t1**2 / 2
    z = x @ torch.linalg.matrix_exp(A * s).T
    return -0.5 * z.square().sum(-1) - 0.5 * x.shape[-1] * math.log(2 * math.pi) + s * torch.trace(A)


@pytest.mark.parametrize("trace", ["exact", "brute"])
@pytest.mark.parametrize("d", [1, 3])
def test_linear_dynamics_match_the_closed_form_gaussian(trace, d, device):
    A = torch.randn(d, d, dtype=torch.float64, generator=torch.Generator().manual_seed(d)) * 0.7
    flow = CNF(LinearDynamics(A), trace=trace, t1=0.8, ode=TIGHT).to(device)
    x = points(32, d)
    expected = _gaussian_log_prob(x, A, 0.8)
    log_p = flow.log_prob(x.to(device))
    assert log_p.device.type == device
    assert (log_p.cpu() - expected).abs().max() <= 1e-6


def test_linear_flow_transports_by_the_exact_flow_map():
    A = torch.tensor([[0.3, -0.8], [0.5, -0.2]], dtype=torch.float64)
    flow = CNF(LinearDynamics(A), ode=TIGHT)
    samples = flow.sample(4, generator=torch.Generator().manual_seed(0))
    z = flow(samples)  # base points back: x = M⁻¹ z, so M x recovers them
    M = torch.linalg.matrix_exp(A * 1.5)
    assert_close_rel(samples @ M.T, z, 1e-8)


@pytest.mark.parametrize("context_features", [0, 2])
def test_exact_hollow_trace_equals_brute_force_and_does_not_vary(context_features, device):
    net = small_hollow(3, context_features).to(device)
    x = points(16, 3).to(device)
    context = points(16, 2, seed=5).to(device) if context_features else None
    ode = ODEOptions(atol=1e-8, rtol=1e-8)
    brute = CNF(net, context_features=context_features, trace="brute", ode=ode).log_prob(x, context)
    exact_flow = CNF(net, context_features=context_features, ode=ode)
    runs = []
    for seed in range(3):
        torch.manual_seed(seed)
        runs.append(exact_flow.log_prob(x, context, generator=torch.Generator().manual_seed(seed)))
    assert (runs[0] - brute).abs().max() <= 1e-6
    for other in runs[1:]:
        assert torch.equal(other, runs[0])  # no estimator noise at all


@pytest.mark.parametrize("context_features", [0, 2])
def test_exact_trace_of_a_plain_mlp_uses_the_generic_engines(context_features):
    torch.manual_seed(0)
    net = TimeConditionedMLP(3, width=16, context_features=context_features).double()
    x = points(8, 3)
    context = points(8, 2, seed=2) if context_features else None  # per sample: taken by d passes
    ode = ODEOptions(atol=1e-8, rtol=1e-8)
    exact = CNF(net, context_features=context_features, ode=ode).log_prob(x, context)
    brute = CNF(net, context_features=context_features, trace="brute", ode=ode).log_prob(x, context)
    assert (exact - brute).abs().max() <= 1e-6


def test_hollow_dynamics_take_the_one_pass_hollow_engine(monkeypatch):
    net = small_hollow(6)
    x = points(5, 6)
    assert hp.explain(bind(net, torch.tensor(0.3, dtype=torch.float64), None), x, "divergence").chosen == "hollow"
    calls = []
    grad = torch.autograd.grad
    monkeypatch.setattr(torch.autograd, "grad", lambda *a, **k: calls.append(1) or grad(*a, **k))
    ode = ODEOptions(method="rk4", steps=2)
    for trace, passes_per_evaluation in (("exact", 1), ("brute", 6)):
        calls.clear()
        flow = CNF(net, trace=trace, ode=ode)
        with torch.no_grad():
            flow.log_prob(x)
        assert flow.nfe.forward == 8
        assert len(calls) == passes_per_evaluation * flow.nfe.forward


@pytest.mark.parametrize("noise", ["rademacher", "gaussian"])
def test_hutchinson_is_unbiased(noise):
    """Each row of a batch of R copies of x gets its own probe: the mean over R estimates is
    within 4 standard errors of the exact value (fixed rk4 grid, so every row sees the same steps)."""
    net = small_hollow(4)
    x, copies = points(3, 4), 400
    ode = ODEOptions(method="rk4", steps=4)
    exact = CNF(net, ode=ode).log_prob(x).detach()
    with torch.no_grad():
        estimates = CNF(net, trace="hutchinson", noise=noise, ode=ode).log_prob(
            x.repeat(copies, 1), generator=torch.Generator().manual_seed(3)).view(copies, 3)
    mean, error = estimates.mean(0), estimates.std(0) / math.sqrt(copies)
    assert (estimates.std(0) > 0).all()  # really stochastic
    assert ((mean - exact).abs() <= 4 * error).all(), (mean, exact, error)


def test_round_trip_and_sampling():
    net = small_hollow(3, context_features=1)
    flow = CNF(net, context_features=1, ode=ODEOptions(atol=1e-9, rtol=1e-9))
    x, context = points(20, 3), torch.tensor([0.25], dtype=torch.float64)
    with torch.no_grad():
        assert (flow.inverse(flow(x, context), context) - x).abs().max() <= 1e-5
        samples = flow.sample(20, context, generator=torch.Generator().manual_seed(0))
        z = torch.randn(20, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        assert (flow(samples, context) - z).abs().max() <= 1e-5
