"""What the API learns from the model itself: sizes from what forward does, activations and
blocks only where their forward is the one the engines know, settings read on every call, and
clear errors for models whose per-sample derivatives are not defined."""
import pytest
import torch
from torch import nn

import hodphys as hp
from hodphys.nn.residual import ResidualBlock
from hodphys.request import make_request
from tests.helpers import assert_close_rel

X = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
V = torch.randn(3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
ENGINES = ["multicomplex", "analytic-forward", "analytic-backward"]


class _Sum(nn.Module):
    def forward(self, x):
        return x.sum(-1, keepdim=True)


class _TwoOutputs(nn.Module):  # declares nothing: m = 2 is only known by running it
    def forward(self, x):
        return torch.stack([torch.sin(x).sum(-1), (x ** 3).sum(-1)], -1)


class _Fourier(nn.Module):
    def forward(self, x):
        return torch.cat([torch.sin(x), torch.cos(x)], -1)


class _Siren(hp.nn.Sin):
    def forward(self, x):
        return super().forward(30 * x)


class _HalfBlock(ResidualBlock):
    def forward(self, u):
        return 0.5 * super().forward(u)


def _auto_matches_autograd(model, quantity="laplacian"):
    assert_close_rel(getattr(hp, quantity)(model, X), getattr(hp, quantity)(model, X, method="autograd"), 1e-10)


def test_m_is_what_the_model_returns_not_the_last_declared_width():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3), _Sum()).double()
    with pytest.raises(ValueError, match="maps d=3 to m=1"):
        hp.divergence(model, X)
    w = torch.ones(1, dtype=torch.float64)
    assert_close_rel(hp.directional_grad(model, X, [V], w),
                     torch.func.vmap(torch.func.grad(lambda x: torch.func.jvp(
                         lambda y: model(y.unsqueeze(0))[0, 0], (x,), (V,))[1]))(X), 1e-10)
    with pytest.raises(ValueError, match=r"expected w\[\.\.\., 1\]"):
        hp.directional_grad(model, X, [V], torch.ones(3, dtype=torch.float64))


def test_undeclared_m_is_found_by_running_the_model():
    with pytest.raises(ValueError, match="maps d=3 to m=2"):
        hp.divergence(_TwoOutputs(), X)
    with pytest.raises(ValueError, match=r"expected w\[\.\.\., 2\]"):
        hp.directional_grad(_TwoOutputs(), X, [V], torch.ones(1, dtype=torch.float64))
    one = nn.Sequential(_TwoOutputs(), _Sum())
    assert hp.directional_grad(one, X, [V]).shape == (4, 3)  # m = 1: w may be omitted


def test_d_is_not_taken_from_a_layer_behind_a_custom_module():
    model = nn.Sequential(_Fourier(), nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    _auto_matches_autograd(model)
    with pytest.raises(ValueError, match=r"expected x\[\.\.\., 3\]"):
        hp.laplacian(nn.Sequential(nn.Tanh(), nn.Linear(3, 1)).double(), torch.randn(2, 5, dtype=torch.float64))


def test_subclasses_that_override_forward_are_not_mistaken_for_their_base():
    _auto_matches_autograd(nn.Sequential(nn.Linear(3, 4), _Siren(), nn.Linear(4, 1)).double())
    _auto_matches_autograd(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), _HalfBlock(4), nn.Linear(4, 1)).double())


@pytest.mark.parametrize("method", ENGINES)
def test_activation_settings_changed_after_a_first_call_are_used(method):
    softplus = nn.Softplus()
    model = nn.Sequential(nn.Linear(3, 4), softplus, nn.Linear(4, 1)).double()
    hp.laplacian(model, X, method=method)
    softplus.beta = 3.0
    assert_close_rel(hp.laplacian(model, X, method=method), hp.laplacian(model, X, method="autograd"), 1e-10)


def test_block_activations_are_checked_and_read_when_replaced():
    icnn = hp.nn.ICNN(3, [4], 1).double()
    icnn[0].activation = nn.Softplus(beta=2.0)
    out = hp.derivatives(icnn, X, hessian=True)
    assert_close_rel(out.value, icnn(X), 1e-14)
    assert_close_rel(out.hessian, hp.hessian(icnn, X, method="autograd"), 1e-10)
    with pytest.raises(ValueError, match="must be convex"):
        icnn[0].activation = nn.Tanh()
    with pytest.raises(ValueError, match="must be an elementwise activation"):
        hp.nn.ResNet(3, 4, 1, 1)[2].activation = nn.GELU()


def test_models_whose_per_sample_derivatives_are_undefined_get_a_clear_error():
    dropout = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.2), nn.Tanh(), nn.Linear(4, 1)).double()
    with pytest.raises(ValueError, match=r"Dropout .* training mode.*model\.eval\(\)"):
        hp.laplacian(dropout, X)
    assert hp.laplacian(dropout.eval(), X).shape == (4, 1)

    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    with pytest.raises(TypeError, match="expected the model to return a tensor .* got tuple"):
        hp.laplacian(Pair(), X)


def test_bad_engine_options_and_explain_arguments_are_named():
    model = hp.nn.MLP([3, 4, 1]).double()
    for h in ("a", None, True):
        with pytest.raises(TypeError, match="multicomplex step h must be a real number"):
            hp.laplacian(model, X, method="multicomplex", h=h)
    with pytest.raises(TypeError, match=r"hvp takes \['v'\]; missing \['v'\]"):
        hp.explain(model, X, "hvp")
    with pytest.raises(TypeError, match=r"unknown \['foo'\]"):
        hp.explain(model, X, "laplacian", foo=1)
    with pytest.raises(ValueError, match="expected k to be an integer ≥ 1"):
        hp.explain(hp.nn.MLP([3, 4, 3]).double(), X, "dim_derivative", k=0)
    assert hp.explain(model, X, "directional_grad", vs=[V]).quantity == "directional_grad"


def test_hollow_derivatives_under_inference_mode():
    net = hp.nn.HollowNet(3).double()
    reference = hp.divergence(net, X, method="autograd")
    with torch.inference_mode():
        ours = hp.divergence(net, X)
        fresh = torch.randn(4, 3, dtype=torch.float64)
        on_fresh = hp.dim_derivative(net, fresh, k=2)
    assert_close_rel(ours, reference, 1e-10)
    assert_close_rel(on_fresh, hp.dim_derivative(net, fresh.clone(), k=2, method="autograd"), 1e-10)


def test_hollow_derivatives_of_an_input_made_under_inference_mode():
    net = hp.nn.HollowNet(3).double()
    with torch.inference_mode():
        x = torch.randn(4, 3, dtype=torch.float64)
    assert_close_rel(hp.divergence(net, x), hp.divergence(net, x.clone(), method="autograd"), 1e-10)


def test_finding_m_by_running_the_model_leaves_the_random_generator_alone():
    class Noisy(nn.Module):  # declares no out_features: make_request runs it once to find m
        def forward(self, x):
            return x + 0.0 * torch.rand_like(x)

    torch.manual_seed(3)
    request = make_request("hp.jacobian(model, x)", "jacobian", Noisy(), X)
    drawn_after = torch.rand(1)
    torch.manual_seed(3)
    assert request.m == 3 and torch.equal(torch.rand(1), drawn_after)


RESULT_METHODS = ["auto", "analytic-forward", "analytic-backward", "multicomplex", "autograd"]


@pytest.mark.parametrize("method", RESULT_METHODS)
@pytest.mark.parametrize("make", [nn.Identity, lambda: nn.Sequential(nn.Identity())], ids=["Identity", "Seq(Identity)"])
def test_derivatives_value_is_not_the_callers_x(make, method):
    """The value of an identity map is a view of x, never x itself (a reshape-free front door once
    returned x: writing into the result changed the caller's x)."""
    model = make()
    for _ in range(3):  # the third call replays where the engine allows it
        x = torch.randn(4, 3, dtype=torch.float64)
        value = hp.derivatives(model, x, hessian=True, method=method).value
        assert value is not x
        value.t_()  # an in-place metadata change on the result must not reshape the caller's x
        assert x.shape == (4, 3)


@pytest.mark.parametrize("method", RESULT_METHODS)
def test_derivatives_value_of_identity_does_not_flip_x_requires_grad(method):
    x = torch.randn(5, 2, dtype=torch.float64)
    value = hp.derivatives(nn.Identity(), x, method=method).value
    value.requires_grad_()
    assert not x.requires_grad
