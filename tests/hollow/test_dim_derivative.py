"""D_dim^k of HollowNets (front door and value_and_dim_derivatives) against brute-force autograd."""
import pytest
import torch
from torch import nn

import hodphys as hp
from hodphys.engines.hollow import value_and_dim_derivatives
from tests.helpers import assert_close_rel


@pytest.mark.parametrize("conditioner", ["sum", "masked"])
@pytest.mark.parametrize("d,shape,seed", [(1, (3,), 0), (5, (4,), 1), (5, (2, 3), 2), (16, (3,), 3)])
def test_dim_derivative_matches_brute_force(conditioner, d, shape, seed, dtype, tol, net_factory, brute, device):
    net = net_factory(d, dtype, seed, conditioner)
    x = (2 * torch.randn(*shape, d, dtype=torch.float64)).to(dtype).requires_grad_()
    reference = brute(net, x, 3)
    net.to(device)
    for k in (1, 2, 3):
        ours = hp.dim_derivative(net, x.detach().to(device), k)
        assert ours.device.type == device
        assert_close_rel(ours.cpu(), reference[k - 1].detach(), tol)


@pytest.mark.parametrize("activation", [nn.Softplus(), nn.SiLU(), hp.nn.Sin()])
def test_value_and_all_orders_in_one_call(activation, dtype, tol, net_factory, brute):
    net = net_factory(6, dtype, 4, activation=activation)
    x = torch.randn(5, 6, dtype=dtype, requires_grad=True)
    value, orders = value_and_dim_derivatives(net, x.detach(), k=3)
    assert_close_rel(value, net(x).detach(), tol)
    for ours, reference in zip(orders, brute(net, x, 3)):
        assert_close_rel(ours, reference.detach(), tol)


def test_divergence_is_trace_of_full_jacobian(dtype, tol, net_factory):
    net = net_factory(7, dtype, 5, "masked")
    x = torch.randn(2, 3, 7, dtype=dtype)
    trace = hp.jacobian(net, x, method="autograd").diagonal(dim1=-2, dim2=-1).sum(-1)
    divergence = hp.divergence(net, x)
    assert divergence.shape == (2, 3)
    assert_close_rel(divergence, trace, tol)


def test_time_and_context_bound_per_sample(dtype, tol, net_factory, brute):
    net = net_factory(4, dtype, 6, time=True, context_features=3)
    x = torch.randn(2, 5, 4, dtype=dtype, requires_grad=True)
    t, context = torch.rand(2, 5, dtype=dtype), torch.randn(2, 5, 3, dtype=dtype)
    reference = brute(lambda y: net(y, t, context), x, 2)
    assert_close_rel(hp.dim_derivative(net.bind(t=t, context=context), x.detach(), 2), reference[1].detach(), tol)
    _, orders = value_and_dim_derivatives(net, x.detach(), 2, t=t.unsqueeze(-1), context=context)
    assert_close_rel(orders[0], reference[0].detach(), tol)


def test_scalar_time_agrees_with_autograd_engine(net_factory):
    net = net_factory(5, torch.float64, 7, time=True)
    x = torch.randn(6, 5, dtype=torch.float64)
    bound = net.bind(t=0.25)
    for k in (1, 2):
        assert_close_rel(hp.dim_derivative(bound, x, k), hp.dim_derivative(bound, x, k, method="autograd"), 1e-12)


def test_gradient_with_respect_to_x_flows_through_both_paths(net_factory, brute):
    """∂(Σ D_dim f)/∂x needs the τ path (u) and the conditioner path (h)."""
    net = net_factory(5, torch.float64, 8, "masked")
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    (ours,) = torch.autograd.grad(hp.divergence(net, x).sum(), x)
    (reference,) = torch.autograd.grad(brute(net, x, 1)[0].sum(), x)
    assert_close_rel(ours, reference, 1e-12)


def test_no_grad_returns_plain_tensors(net_factory):
    net = net_factory(4, torch.float64, 9)
    with torch.no_grad():
        value, orders = value_and_dim_derivatives(net, torch.randn(3, 4, dtype=torch.float64), k=2)
        divergence = hp.divergence(net, torch.randn(3, 4, dtype=torch.float64))
    assert not value.requires_grad and not any(o.requires_grad for o in orders)
    assert not divergence.requires_grad


def test_auto_picks_hollow_for_hollownets_only(net_factory):
    net = net_factory(8, torch.float64, 10)
    x = torch.randn(4, 8, dtype=torch.float64)
    assert hp.explain(net, x, "divergence").chosen == "hollow"
    assert hp.explain(net, x, "dim_derivative", k=3).chosen == "hollow"
    assert hp.explain(net.bind(), x, "divergence").chosen == "hollow"
    mlp = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8)).double()
    choice = hp.explain(mlp, x, "divergence")
    assert choice.chosen != "hollow"
    assert "not a hodphys.nn.HollowNet" in choice.ruled_out["hollow"]


def test_explicit_hollow_method_on_other_models_says_why(net_factory):
    mlp = nn.Sequential(nn.Linear(3, 3), nn.Tanh()).double()
    with pytest.raises(NotImplementedError, match="not a hodphys.nn.HollowNet"):
        hp.divergence(mlp, torch.randn(2, 3, dtype=torch.float64), method="hollow")
    with pytest.raises(NotImplementedError, match="does not compute jacobian"):
        hp.jacobian(net_factory(3, torch.float64, 0), torch.randn(2, 3, dtype=torch.float64), method="hollow")
    timed = net_factory(3, torch.float64, 0, time=True)
    with pytest.raises(NotImplementedError, match=r"bind\(t=…"):
        hp.divergence(timed, torch.randn(2, 3, dtype=torch.float64), method="hollow")


def test_bad_inputs_are_named(net_factory):
    net = net_factory(4, torch.float64, 11)
    x = torch.randn(3, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"expected x\[\.\.\., 4\].*\(3, 5\)"):
        hp.dim_derivative(net, torch.randn(3, 5, dtype=torch.float64), 1)
    with pytest.raises(ValueError, match=r"expected x\[\.\.\., 4\]"):
        hp.divergence(net, torch.randn(3, 2, dtype=torch.float64))
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="expected k to be an integer ≥ 1"):
            hp.dim_derivative(net, x, k)
        with pytest.raises(ValueError, match="expected k to be an integer ≥ 1"):
            value_and_dim_derivatives(net, x, k)
    with pytest.raises(ValueError, match=r"value_and_dim_derivatives.*expected x\[\.\.\., 4\]"):
        value_and_dim_derivatives(net, torch.randn(3, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match="expected a hodphys.nn.HollowNet"):
        value_and_dim_derivatives(nn.Linear(4, 4).double(), x)
    with pytest.raises(ValueError, match="bound HollowNet"):
        value_and_dim_derivatives(net.bind(), x, t=0.5)


def test_divergence_with_value_from_one_pass(dtype, tol, net_factory):
    """return_value=True: f and div f of one forward and one backward pass, both against torch.func,
    and a loss on both backpropagates like the two separate computations."""
    net = net_factory(6, dtype, 12, "masked", time=True, context_features=2)
    bound = net.bind(t=torch.rand(4, 1, dtype=dtype), context=torch.randn(4, 2, dtype=dtype))
    x = torch.randn(4, 6, dtype=dtype, requires_grad=True)
    value, divergence, none = hp.divergence(bound, x, return_value=True)
    assert none is None
    trace = torch.func.vmap(torch.func.jacrev(lambda y, t, c: net(y[None], t[None], c[None])[0]))(
        x, bound.t, bound.context).diagonal(dim1=-2, dim2=-1).sum(-1)
    assert_close_rel(value, bound(x), tol)
    assert_close_rel(divergence, trace, tol)
    params = [x, *net.parameters()]
    ours = torch.autograd.grad((value.square().sum() + divergence.sum()), params)
    reference = torch.autograd.grad((bound(x).square().sum() + hp.divergence(bound, x).sum()), params)
    for a, b in zip(ours, reference):
        assert_close_rel(a, b, tol)


def test_divergence_with_value_for_any_model():
    """Engines without a one-pass value: the front door evaluates the model beside them."""
    torch.manual_seed(13)
    mlp = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    value, divergence, _ = hp.divergence(mlp, x, return_value=True)
    assert value.shape == (2, 5, 3) and divergence.shape == (2, 5)
    assert_close_rel(value, mlp(x), 1e-12)
    assert_close_rel(divergence, hp.divergence(mlp, x, method="autograd"), 1e-10)


def _func_reference(net, x, t, context, v):
    """f, div f and vᵀ∂f/∂x per sample by torch.func (the full Jacobian)."""
    def one(y, s, c, w):
        jac = torch.func.jacrev(lambda z: net(z[None], s[None], c[None])[0])(y)
        return jac.diagonal().sum(), w @ jac
    divergence, vjp = torch.func.vmap(one)(x, t, context, v)
    return net(x, t, context), divergence, vjp


@pytest.mark.parametrize("noise", ["rademacher", "gaussian", "with zeros"])
def test_divergence_and_vjp_from_one_pass(noise, dtype, tol, net_factory):
    """vjp=v: f, div f and vᵀ∂f/∂x against torch.func, and the parameter gradients of a loss on
    all three against the same loss built from separate computations."""
    net = net_factory(5, dtype, 16, "sum", time=True, context_features=2)
    t, context = torch.rand(6, 1, dtype=dtype), torch.randn(6, 2, dtype=dtype)
    x = torch.randn(6, 5, dtype=dtype, requires_grad=True)
    v = torch.randn(6, 5, dtype=dtype)
    if noise == "rademacher":
        v = v.sign()
    elif noise == "with zeros":  # the fused pass divides by v: zero entries take two passes instead
        v[2, 3] = 0
    value, divergence, vjp = hp.divergence(net.bind(t=t, context=context), x, vjp=v)
    references = _func_reference(net, x, t, context, v)
    for ours, reference in zip((value, divergence, vjp), references):
        assert_close_rel(ours, reference, tol)
    params = [x, *net.parameters()]
    loss = lambda f, div, product: f.square().sum() + div.sum() + product.square().sum()  # noqa: E731
    ours = torch.autograd.grad(loss(value, divergence, vjp), params)
    reference = torch.autograd.grad(loss(*references), params)
    for a, b in zip(ours, reference):
        assert_close_rel(a, b, tol)


def test_divergence_and_vjp_for_any_model_and_without_grad():
    torch.manual_seed(17)
    mlp = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    x, v = torch.randn(4, 3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    with torch.no_grad():
        value, divergence, vjp = hp.divergence(mlp, x, vjp=v)
    assert not (value.requires_grad or divergence.requires_grad or vjp.requires_grad)
    jac = hp.jacobian(mlp, x, method="autograd")
    assert_close_rel(vjp, torch.einsum("m,bmd->bd", v, jac), 1e-12)
    assert_close_rel(divergence, jac.diagonal(dim1=-2, dim2=-1).sum(-1), 1e-10)
    with pytest.raises(ValueError, match="v"):
        hp.divergence(mlp, x, vjp=torch.randn(4, dtype=torch.float64))


def test_auto_choice_is_remembered_for_hollownets(net_factory, monkeypatch):
    """The ranking of engines is made once per model and request sizes (not per call), and made
    again when a submodule is replaced."""
    from hodphys.engines import registry

    net = net_factory(5, torch.float64, 14)
    x = torch.randn(3, 5, dtype=torch.float64)
    asked = []
    cost = registry.ENGINES["hollow"].cost
    monkeypatch.setattr(registry.ENGINES["hollow"], "cost", lambda request: asked.append(1) or cost(request))
    for _ in range(3):
        hp.divergence(net, x)
    assert len(asked) == 1
    net.transformer = net_factory(5, torch.float64, 15).transformer
    hp.divergence(net, x)
    assert len(asked) == 2


def test_divergence_and_vjp_of_a_hollownet_without_grad_for_an_input_that_requires_grad(net_factory):
    """Under torch.no_grad the flattened input is a view made there: the fused pass starts afresh."""
    net = net_factory(4, torch.float64, 21, "sum", time=True)
    bound = net.bind(t=torch.tensor(0.3, dtype=torch.float64))
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(5, 4, dtype=torch.float64).sign()
    reference = hp.divergence(bound, x, vjp=v)
    with torch.no_grad():
        value, divergence, vjp = hp.divergence(bound, x, vjp=v)
    assert not vjp.requires_grad
    for ours, expected in zip((value, divergence, vjp), reference):
        assert_close_rel(ours, expected.detach(), 1e-12)
