"""Parameter gradients of CNF losses: exact (hollow) against brute force, adjoint against direct; NFE."""
from __future__ import annotations

import pytest
import torch

from hodphys.flows import CNF, ODEOptions
from tests.flows.models import points, small_hollow
from tests.helpers import assert_close_rel


def _gradients(flow: CNF, x: torch.Tensor, context=None) -> list[torch.Tensor]:
    loss, _ = flow.loss(x, context)
    return torch.autograd.grad(loss, list(flow.dynamics.parameters()))


@pytest.mark.parametrize("context_features", [0, 2])
def test_log_prob_parameter_gradients_equal_brute_force(context_features):
    net = small_hollow(3, context_features)
    x = points(12, 3)
    context = points(12, 2, seed=4) if context_features else None
    ode = ODEOptions(atol=1e-8, rtol=1e-8)
    exact = _gradients(CNF(net, context_features=context_features, ode=ode), x, context)
    brute = _gradients(CNF(net, context_features=context_features, trace="brute", ode=ode), x, context)
    assert all(g.abs().max() > 0 for g in exact)  # conditioner and transformer both trained
    for e, b in zip(exact, brute):
        assert_close_rel(e, b, 1e-8)


@pytest.mark.parametrize("jacobian_fraction", [1.0, 0.25])
def test_regularised_gradients_equal_brute_force_with_the_same_probe(jacobian_fraction):
    """The same generator gives both the same ε and the same evaluations taking the Jacobian term."""
    net = small_hollow(3)
    x, ode = points(10, 3), ODEOptions(method="rk4", steps=3)
    grads = []
    for trace in ("exact", "brute"):
        flow = CNF(net, trace=trace, ode=ode, kinetic=0.3, jacobian=0.2, jacobian_fraction=jacobian_fraction)
        loss, terms = flow.loss(x, generator=torch.Generator().manual_seed(7))
        assert terms["kinetic"] > 0 and terms["jacobian"] > 0
        grads.append(torch.autograd.grad(loss, list(net.parameters())))
    for e, b in zip(*grads):
        assert_close_rel(e, b, 1e-10)


def test_adjoint_gradients_match_direct_backpropagation():
    net = small_hollow(2)
    x = points(8, 2)
    direct = _gradients(CNF(net, ode=ODEOptions(atol=1e-9, rtol=1e-9)), x)
    adjoint = _gradients(CNF(net, ode=ODEOptions(atol=1e-9, rtol=1e-9, adjoint=True)), x)
    for a, b in zip(adjoint, direct):
        assert_close_rel(a, b, 1e-5)


def test_nfe_is_counted_forward_and_backward():
    net = small_hollow(2)
    x = points(8, 2)
    flow = CNF(net, ode=ODEOptions(method="rk4", steps=3))
    loss, terms = flow.loss(x)
    assert flow.nfe == (12, 0) and float(terms["nfe_forward"]) == 12
    loss.backward()
    assert flow.nfe == (12, 12) and float(terms["nfe_backward"]) == 12  # filled in by the backward pass
    adjoint = CNF(net, ode=ODEOptions(adjoint=True))
    loss, terms = adjoint.loss(x)
    loss.backward()
    assert adjoint.nfe.forward > 0 and adjoint.nfe.backward > 0
    assert float(terms["nfe_backward"]) == adjoint.nfe.backward


def test_gradients_reach_the_context():
    net = small_hollow(2, context_features=1)
    x, ode = points(6, 2), ODEOptions(atol=1e-8, rtol=1e-8)
    grads = []
    for trace in ("exact", "brute"):
        context = torch.linspace(0, 1, 6, dtype=torch.float64)[:, None].requires_grad_(True)
        CNF(net, context_features=1, trace=trace, ode=ode).log_prob(x, context).sum().backward()
        grads.append(context.grad)
    assert grads[0].abs().min() > 0
    assert_close_rel(grads[0], grads[1], 1e-8)
