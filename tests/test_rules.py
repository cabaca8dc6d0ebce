"""One rule protocol: a layer registered once with hodphys.register_rule works in every layer-rule
engine (analytic forward and backward, multicomplex), checked against torch.func in float64."""
import pytest
import torch
from torch import nn
from torch.func import hessian, jacrev, vmap

import hodphys as hp
from hodphys.elementwise import Softplus
from hodphys.engines.rules import RULE_ENGINES
from hodphys.nn import Branch, BranchBlock
from tests.helpers import assert_close_rel

METHODS = ("analytic-forward", "analytic-backward", "multicomplex")


class ScaledLinear(nn.Linear):
    """y = s·(W u + b) with a plain-float gain s."""

    def __init__(self, n_in: int, n_out: int, gain: float):
        super().__init__(n_in, n_out)
        self.gain = gain

    def forward(self, u):
        return self.gain * super().forward(u)


class ScaledLinearRule:
    def __init__(self, module):
        self.module = module

    def apply(self, state):
        return state.linear(self.module.weight, self.module.bias).scale(self.module.gain), None

    def backward(self, adjoint, saved):
        return adjoint.scale(self.module.gain).transposed_linear(self.module.weight)


class SoftplusSkip(nn.Module):
    """y = u + softplus(u): a skip and an activation, no parameters."""

    def forward(self, u):
        return u + nn.functional.softplus(u)


class SoftplusSkipRule:
    def __init__(self, module):
        self.module = module

    def apply(self, state):
        return state.add_activated(state, Softplus(), 1.0), state

    def backward(self, adjoint, saved):
        return adjoint.add(adjoint.through_elementwise(Softplus(), saved))


class Gate(BranchBlock):
    """A user's own skip-plus-branch layer, y = u + V tanh(K u + b): covered without registering."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.inner = nn.Linear(width, hidden)
        self.outer = nn.Parameter(torch.randn(width, hidden) / hidden)

    def branch(self) -> Branch:
        return Branch(1.0, None, self.inner.weight, self.inner.bias, hp.elementwise.Tanh(), self.outer)

    def forward(self, u):
        return u + torch.tanh(self.inner(u)) @ self.outer.T


def _model() -> nn.Sequential:
    hp.register_rule(ScaledLinear, ScaledLinearRule)
    hp.register_rule(SoftplusSkip, SoftplusSkipRule)
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), ScaledLinear(6, 5, gain=0.7), SoftplusSkip(),
                         Gate(5, 4), nn.Tanh(), nn.Linear(5, 2)).double()


def _per_sample(model):
    return lambda x: model(x.unsqueeze(0)).squeeze(0)


@pytest.mark.parametrize("method", METHODS)
def test_a_registered_layer_matches_torch_func_in_each_engine(method, device):
    model = _model().to(device)
    x = torch.randn(4, 3, dtype=torch.float64, device=device)
    v = torch.randn(4, 3, dtype=torch.float64, device=device)
    f = _per_sample(model)
    jac, hess = vmap(jacrev(f))(x), vmap(hessian(f))(x)
    assert_close_rel(hp.jacobian(model, x, method=method), jac, 1e-10)
    assert_close_rel(hp.hessian(model, x, method=method), hess, 1e-10)
    assert_close_rel(hp.laplacian(model, x, method=method), hess.diagonal(dim1=-2, dim2=-1).sum(-1), 1e-10)
    assert_close_rel(hp.hvp(model, x, v, method=method), torch.einsum("bmij,bj->bmi", hess, v), 1e-10)
    if method != "analytic-backward":  # directional derivatives are forward-mode work
        assert_close_rel(hp.directional(model, x, [v, v], method=method),
                         torch.einsum("bmij,bi,bj->bm", hess, v, v), 1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_parameter_gradients_flow_through_a_registered_rule(method):
    model = _model()
    x = torch.randn(4, 3, dtype=torch.float64)
    weight = model[2].weight
    got = torch.autograd.grad(hp.laplacian(model, x, method=method).square().sum(), weight)[0]
    expected = torch.autograd.grad(hp.laplacian(model, x, method="autograd").square().sum(), weight)[0]
    assert_close_rel(got, expected, 1e-10)


def test_a_rule_limited_to_one_engine_is_refused_by_the_others():
    class Halve(nn.Module):
        def forward(self, u):
            return u / 2

    class HalveRule:
        def __init__(self, module):
            pass

        def apply(self, state):
            return state.scale(0.5), None

        def backward(self, adjoint, saved):
            return adjoint.scale(0.5)

    hp.register_rule(Halve, HalveRule, engines=["multicomplex"])
    model, x = nn.Sequential(nn.Linear(2, 2), Halve()).double(), torch.randn(3, 2, dtype=torch.float64)
    assert_close_rel(hp.jacobian(model, x, method="multicomplex"), model[0].weight.expand(3, 2, 2) / 2, 1e-15)
    with pytest.raises(NotImplementedError, match="no analytic rule for Halve"):
        hp.jacobian(model, x, method="analytic-forward")
    assert hp.explain(model, x, "jacobian").chosen != "analytic-forward"


def test_register_rule_names_unknown_engines():
    with pytest.raises(ValueError, match=r"expected engines among \['analytic', 'multicomplex'\], got \['hollow'\]"):
        hp.register_rule(nn.Identity, ScaledLinearRule, engines=["hollow"])
    with pytest.raises(ValueError, match="got \\[\\]"):
        hp.register_rule(nn.Identity, ScaledLinearRule, engines=[])


def test_one_register_rule_behind_every_name():
    assert hp.analytic.register_rule is hp.register_rule is hp.multicomplex.register_rule
    assert set(RULE_ENGINES) == {"analytic", "multicomplex"}
