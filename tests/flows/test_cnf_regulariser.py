"""RNODE's Jacobian term on a random share p of a fixed-step solve's evaluations (weighted 1/p):
unbiased for the every-evaluation term, exact where drawn, and no VJP where not (float64)."""
from __future__ import annotations

import itertools

import pytest
import torch

import hodphys as hp
from hodphys.flows import CNF, ODEOptions
from hodphys.flows.ode import JacobianDraws
from tests.flows.models import points, small_hollow

RK4 = ODEOptions(method="rk4", steps=2)  # 8 evaluations a solve


def _terms(flow: CNF, x: torch.Tensor, seed: int):
    return flow.density_terms(x, regularise=True, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("trace", ["exact", "hutchinson", "brute"])
def test_every_draw_taken_scales_the_full_term_and_none_leaves_it_zero(trace, monkeypatch):
    """b = 1 everywhere: J = J(p = 1)/p; b = 0 everywhere: J = 0; log p and K never change."""
    net, x = small_hollow(3), points(10, 3)
    full = _terms(CNF(net, trace=trace, ode=RK4, jacobian_fraction=1.0), x, 3)
    flow = CNF(net, trace=trace, ode=RK4, jacobian_fraction=0.25)
    for taken, expected in ((True, full.jacobian / 0.25), (False, torch.zeros_like(full.jacobian))):
        monkeypatch.setattr(JacobianDraws, "draw", lambda self, taken=taken: taken)
        terms = _terms(flow, x, 3)
        torch.testing.assert_close(terms.jacobian, expected, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(terms.log_prob, full.log_prob, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(terms.kinetic, full.kinetic, rtol=1e-12, atol=0)
    assert full.jacobian.min() > 0


def test_the_jacobian_term_on_a_share_of_the_evaluations_is_unbiased():
    """Per seed the same ε for both; over the Bernoulli draws J(p) averages to J(1), and J(1) is
    the brute-force trace's (Jacobian by d backward passes)."""
    net, x = small_hollow(3), points(6, 3)
    full = CNF(net, ode=RK4, jacobian_fraction=1.0)
    brute = CNF(net, trace="brute", ode=RK4, jacobian_fraction=1.0)
    share = CNF(net, ode=RK4, jacobian_fraction=0.25)
    differences = []
    for seed in range(300):
        reference = _terms(full, x, seed).jacobian
        if seed < 3:
            torch.testing.assert_close(reference, _terms(brute, x, seed).jacobian, rtol=1e-10, atol=0)
        differences.append((_terms(share, x, seed).jacobian - reference).mean())
    differences = torch.stack(differences)
    standard_error = differences.std() / len(differences) ** 0.5
    assert differences.std() > 0  # the draws do vary
    assert differences.mean().abs() <= 4 * standard_error


def test_evaluations_without_the_term_take_no_vector_jacobian_product(monkeypatch):
    net, x = small_hollow(3), points(10, 3)
    pattern = itertools.cycle([True, False, False, False])
    monkeypatch.setattr(JacobianDraws, "draw", lambda self: next(pattern))
    asked = []
    divergence = hp.divergence
    monkeypatch.setattr(hp, "divergence", lambda *a, **k: asked.append(k.get("vjp") is not None) or divergence(*a, **k))
    CNF(net, ode=RK4, kinetic=0.1, jacobian=0.1).loss(x)
    assert asked == [True, False, False, False] * 2


@pytest.mark.parametrize("ode", [ODEOptions(atol=1e-6, rtol=1e-6), ODEOptions(method="rk4", adjoint=True)])
def test_adaptive_and_adjoint_solves_take_the_term_at_every_evaluation(ode):
    """A random right-hand side would upset step-size control and the adjoint's re-evaluations."""
    net, x = small_hollow(2), points(8, 2)
    with torch.no_grad():
        full = _terms(CNF(net, ode=ode, jacobian_fraction=1.0), x, 5)
        share = _terms(CNF(net, ode=ode, jacobian_fraction=0.25), x, 5)
    assert torch.equal(share.jacobian, full.jacobian)
