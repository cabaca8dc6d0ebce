"""hodphys.nn layers and builders: what they compute, that every engine accepts them, bad input."""
import pytest
import torch
from torch import nn

import hodphys as hp
from hodphys import elementwise
from tests.helpers import assert_close_rel

ENGINES = ["autograd", "multicomplex", "analytic-forward", "analytic-backward"]


def test_builders_are_plain_sequentials_of_the_expected_layers():
    mlp = hp.nn.MLP([2, 5, 5, 3])
    assert [type(m) for m in mlp] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    resnet = hp.nn.ResNet(4, 6, 3, 2, step=0.5, opening_activation=hp.nn.LogCosh())
    assert [type(m).__name__ for m in resnet] == ["Linear", "LogCosh"] + ["ResidualBlock"] * 3 + ["Linear"]
    assert all(block.step == 0.5 for block in resnet[2:5])
    icnn = hp.nn.ICNN(3, [5, 4], rank=2)
    assert [type(m).__name__ for m in icnn] == ["ICNNLayer", "ICNNLayer", "QuadraticICNNLayer"]
    assert (icnn[0].in_features, icnn[0].out_features, icnn[1].in_features, icnn[2].in_features) == (3, 8, 8, 7)
    assert hp.nn.ResNet(2, 4, 0, 1)[1].__class__ is nn.Tanh


@pytest.mark.parametrize("method", ENGINES)
def test_every_engine_accepts_every_builder(method):
    torch.manual_seed(0)
    x = torch.randn(3, 4, dtype=torch.float64)
    for model in (hp.nn.MLP([4, 6, 2]), hp.nn.ResNet(4, 6, 2, 2), hp.nn.ICNN(4, [5, 3])):
        model = model.double()
        assert_close_rel(hp.hessian(model, x, method=method), hp.hessian(model, x, method="autograd"), 1e-10)


def test_layer_values_follow_their_formulas():
    torch.manual_seed(0)
    u = torch.randn(4, 5, dtype=torch.float64)
    quad = hp.nn.QuadraticLayer(5, 2).double()
    expected = u @ quad.v + 0.5 * ((u @ quad.A.t()) ** 2).sum(-1) + quad.mu
    assert_close_rel(quad(u), expected.unsqueeze(-1), 1e-15)
    icnn = hp.nn.ICNNLayer(3, 2, 4).double()
    z = u[:, :2] @ nn.functional.softplus(icnn.L).t() + u[:, 2:] @ icnn.K.t() + icnn.b
    assert_close_rel(icnn(u), torch.cat([nn.functional.softplus(z), u[:, 2:]], -1), 1e-15)
    qicnn = hp.nn.QuadraticICNNLayer(3, 2, 2).double()
    x = u[:, 2:]
    expected = (u[:, :2] @ nn.functional.softplus(qicnn.w) + x @ qicnn.v
                + 0.5 * ((x @ qicnn.A.t()) ** 2).sum(-1) + qicnn.mu)
    assert_close_rel(qicnn(u), expected.unsqueeze(-1), 1e-15)


def test_icnn_is_convex_in_its_input():
    torch.manual_seed(1)
    model = hp.nn.ICNN(3, [8, 8, 8], rank=2).double()
    hessians = hp.hessian(model, torch.randn(50, 3, dtype=torch.float64) * 3)
    assert torch.linalg.eigvalsh(hessians[:, 0]).min() > -1e-12


def test_new_activations_derivatives_and_convexity():
    x = torch.linspace(-30, 30, 61, dtype=torch.float64)
    f, f1, f2, f3 = elementwise.LogCosh().derivatives(x, 3)
    assert_close_rel(f, torch.log(torch.cosh(x)), 1e-14)
    assert_close_rel(f1, torch.tanh(x), 1e-15)
    assert_close_rel(f2, 1 - torch.tanh(x) ** 2, 1e-14)
    assert_close_rel(f3, -2 * torch.tanh(x) * (1 - torch.tanh(x) ** 2), 1e-14)
    assert torch.isfinite(elementwise.LogCosh().derivatives(torch.tensor([1e4, -1e4]), 0)[0]).all()
    q = elementwise.Quadratic().derivatives(x, 4)
    assert torch.equal(q[0], 0.5 * x * x) and torch.equal(q[1], x)
    assert torch.equal(q[2], torch.ones_like(x)) and torch.equal(q[3], torch.zeros_like(x))
    assert elementwise.LogCosh.convex and not elementwise.LogCosh.nondecreasing
    assert hp.nn.LogCosh()(x).shape == x.shape and hp.nn.Quadratic()(x).shape == x.shape


def test_quadratic_layer_that_is_not_last_names_the_layer():
    model = nn.Sequential(nn.Linear(2, 3), hp.nn.QuadraticLayer(3, 1), nn.Linear(1, 1))
    x = torch.randn(2, 2)
    with pytest.raises(ValueError, match=r"model\[1\] \(QuadraticLayer\) is an output layer .* must be the last "
                                         r"layer; it is followed by model\[2\] \(Linear\)"):
        hp.hessian(model, x, method="analytic-forward")
    with pytest.raises(ValueError, match="must be the last layer"):
        hp.hessian(model, x, method="multicomplex")


def test_mismatched_widths_name_both_layers():
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Sequential(nn.Linear(5, 1)))
    with pytest.raises(ValueError, match=r"model\[2\]\[0\] \(Linear\) expects in_features=5, but model\[0\] "
                                         r"\(Linear\) gives 4 features"):
        hp.laplacian(model, torch.randn(3, 2))
    with pytest.raises(ValueError, match="expects in_features=7"):
        hp.nn.MLP.__base__(nn.Linear(2, 3), hp.nn.ResidualBlock(7))


def test_icnn_with_non_convex_activation_names_the_layer():
    with pytest.raises(ValueError, match=r"ICNNLayer\(input_dim=3, hidden_in=None, hidden_out=5\): the activation "
                                         r"must be convex .* got Tanh\(\)"):
        hp.nn.ICNN(3, [5], activation=nn.Tanh())
    with pytest.raises(ValueError, match=r"hidden_in=5, .*must be convex and non-decreasing .* got Quadratic"):
        hp.nn.ICNN(3, [5, 4], activation=hp.nn.Quadratic())
    hp.nn.ICNN(3, [5], activation=hp.nn.Quadratic())  # the first layer only needs convexity


@pytest.mark.parametrize("build, match", [
    (lambda: hp.nn.MLP([3]), r"MLP\(widths\): expected widths to be a list of at least 2 positive integers"),
    (lambda: hp.nn.MLP("34"), r"expected widths to be a list"),
    (lambda: hp.nn.MLP([3, 0, 1]), r"MLP\(widths\): expected widths\[1\] to be an integer ≥ 1, got 0"),
    (lambda: hp.nn.ResNet(3, 4, -1, 1), r"ResNet\(3, 4, -1, 1\): expected depth to be an integer ≥ 0"),
    (lambda: hp.nn.ResNet(3, 4.0, 1, 1), r"expected width to be an integer ≥ 1, got 4.0"),
    (lambda: hp.nn.ResNet(3, 4, 1, 1, step=float("nan")), r"expected a finite float step, got nan"),
    (lambda: hp.nn.ICNN(3, [], rank=1), r"ICNN\(3, \[\]\): expected widths to be a list of at least 1"),
    (lambda: hp.nn.ICNN(3, [2], rank=0), r"expected rank to be an integer ≥ 1, got 0"),
    (lambda: hp.nn.QuadraticLayer(0, 1), r"QuadraticLayer\(in_features=0, rank=1\): expected in_features"),
    (lambda: hp.nn.ICNNLayer(2, -1, 3), r"ICNNLayer\(input_dim=2, hidden_in=-1, hidden_out=3\): expected hidden_in"),
    (lambda: hp.nn.QuadraticICNNLayer(2, 1, True), r"expected rank to be an integer ≥ 1, got True"),
])
def test_bad_sizes_are_rejected_with_the_call_named(build, match):
    with pytest.raises(ValueError, match=match):
        build()
