"""Bad input to CNF and its parts: clear errors before any integration."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from hodphys.flows import CNF, ODEOptions, TimeConditionedMLP, probe_noise
from hodphys.nn import HollowNet
from tests.flows.models import points, small_hollow


class Autonomous(nn.Module):
    in_features = 2

    def forward(self, z):
        return z


class Undeclared(nn.Module):
    def forward(self, z, t):
        return z


@pytest.mark.parametrize("dynamics, kwargs, error, match", [
    (nn.Linear(2, 2), {}, ValueError, r"not time-conditioned: its forward takes \(input"),
    (Autonomous(), {}, ValueError, "a CNF calls it as f\\(z, t\\)"),
    (TimeConditionedMLP(2), {"context_features": 1}, ValueError, "TimeConditionedMLP takes context_features=0"),
    (Undeclared(), {"d": 2, "context_features": 1}, ValueError, r"a CNF calls it as f\(z, t, context\)"),
    (HollowNet(2), {}, ValueError, r"HollowNet\(d=2\) is not time-conditioned"),
    (HollowNet(2, time=True), {"context_features": 1}, ValueError, "HollowNet takes context_features=0, the CNF"),
    (lambda z, t: z, {}, TypeError, "expected dynamics to be an nn.Module"),
    (Undeclared(), {}, ValueError, "does not declare in_features; pass d="),
    (TimeConditionedMLP(2), {"d": 3}, ValueError, "d=3 but the dynamics has in_features=2"),
    (TimeConditionedMLP(2), {"trace": "stochastic"}, ValueError, "unknown trace='stochastic'"),
    (TimeConditionedMLP(2), {"noise": "uniform"}, ValueError, "unknown noise='uniform'"),
    (TimeConditionedMLP(2), {"t1": 0.0}, ValueError, "expected t1 to be a finite number > 0"),
    (TimeConditionedMLP(2), {"kinetic": -1.0}, ValueError, "expected kinetic to be a finite number ≥ 0"),
    (TimeConditionedMLP(2), {"jacobian_fraction": 0.0}, ValueError,
     "expected jacobian_fraction to be a finite number > 0"),
    (TimeConditionedMLP(2), {"jacobian_fraction": 1.5}, ValueError,
     r"expected jacobian_fraction in \(0, 1\]"),
    (TimeConditionedMLP(2), {"context_features": -1}, ValueError, "expected context_features to be an integer"),
    (TimeConditionedMLP(2), {"ode": ODEOptions(method="leapfrog")}, ValueError, "unknown ODE method='leapfrog'"),
    (TimeConditionedMLP(2), {"ode": ODEOptions(atol=0.0)}, ValueError, "positive finite atol and rtol"),
    (TimeConditionedMLP(2), {"ode": ODEOptions(method="rk4", steps=0)}, ValueError, "steps to be an integer ≥ 1"),
])
def test_bad_construction(dynamics, kwargs, error, match):
    with pytest.raises(error, match=match):
        CNF(dynamics, **kwargs)


def test_undeclared_dimension_is_fine_when_given():
    assert CNF(Undeclared(), d=2).d == 2


@pytest.mark.parametrize("x, error, match", [
    (torch.zeros(4, 3, dtype=torch.float64), ValueError, r"expected x of shape \(B, 2\), got \(4, 3\)"),
    (torch.zeros(2, dtype=torch.float64), ValueError, r"expected x of shape \(B, 2\), got \(2,\)"),
    (torch.tensor([[0.0, float("nan")], [1.0, 1.0]], dtype=torch.float64), ValueError,
     "NaN or infinite values in 1 of 2 rows"),
    (torch.zeros(4, 2, dtype=torch.long), TypeError, "expected a floating-point x"),
    ([[0.0, 1.0]], TypeError, "expected x to be a tensor"),
])
def test_bad_data(x, error, match):
    flow = CNF(small_hollow(2))
    with pytest.raises(error, match=match):
        flow.log_prob(x)


def test_bad_points_for_transport_name_the_argument():
    flow = CNF(small_hollow(2))
    with pytest.raises(ValueError, match=r"CNF.inverse\(z\): expected z of shape"):
        flow.inverse(torch.zeros(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="expected n to be an integer ≥ 1"):
        flow.sample(0)


@pytest.mark.parametrize("features, context, match", [
    (0, torch.zeros(1), "takes no context"),
    (2, None, "conditioned on a context of 2 features"),
    (2, torch.zeros(3, 2), r"expected context of shape \(2,\) or \(4, 2\), got \(3, 2\)"),
    (2, torch.tensor([0.0, float("inf")]), "context has NaN or infinite values"),
])
def test_bad_context(features, context, match):
    flow = CNF(small_hollow(2, features), context_features=features)
    with pytest.raises(ValueError, match=match):
        flow.log_prob(points(4, 2), context)


def test_unknown_probe_noise():
    with pytest.raises(ValueError, match="unknown noise='sobol'"):
        probe_noise("sobol", torch.zeros(2, 2))


@pytest.mark.parametrize("kwargs, match", [({"width": 0}, "width to be an integer ≥ 1"),
                                           ({"context_features": -2}, "context_features to be an integer ≥ 0")])
def test_bad_mlp_dynamics(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TimeConditionedMLP(2, **kwargs)
