"""Training through D_dim: parameter gradients equal brute force, the conditioner's included."""
import pytest
import torch

import hodphys as hp
from hodphys.engines.hollow import value_and_dim_derivatives
from tests.helpers import assert_close_rel


def _loss(value, d1, d2):
    """A loss on f, D_dim f and D²_dim f, like a Fokker–Planck residual."""
    return (value ** 2).sum() + (torch.sin(d1) * value).sum() + (d2 ** 2 * d1).sum()


def _parameter_grads(net, loss):
    params = [p for _, p in net.named_parameters()]
    return dict(zip([n for n, _ in net.named_parameters()],
                    torch.autograd.grad(loss, params, allow_unused=True)))


@pytest.mark.parametrize("conditioner", ["sum", "masked"])
@pytest.mark.parametrize("d,seed", [(1, 0), (4, 1), (9, 2)])
def test_parameter_gradients_match_brute_force(conditioner, d, seed, net_factory, brute):
    net = net_factory(d, torch.float64, seed, conditioner, time=True, context_features=2)
    x = torch.randn(2, 3, d, dtype=torch.float64, requires_grad=True)
    t, context = torch.rand(2, 3, dtype=torch.float64), torch.randn(2, 3, 2, dtype=torch.float64)
    value, (d1, d2) = value_and_dim_derivatives(net, x.detach(), 2, t=t, context=context)
    ours = _parameter_grads(net, _loss(value, d1, d2))
    f = lambda y: net(y, t, context)  # noqa: E731
    reference = _parameter_grads(net, _loss(f(x), *brute(f, x, 2)))
    for name, grad in reference.items():
        assert ours[name] is not None, name
        assert_close_rel(ours[name], grad, 1e-10)
    conditioner_grads = [g for n, g in ours.items() if n.startswith("conditioner.")]
    assert conditioner_grads and all(g is not None for g in conditioner_grads)
    if d > 1:  # with d = 1, h_1 = c(x_{−1}) is a constant of x, but still trained
        assert all(g.abs().max() > 0 for g in conditioner_grads)


def test_front_door_divergence_trains_the_conditioner(net_factory, brute):
    net = net_factory(6, torch.float32, 3, "masked")
    x = torch.randn(8, 6, requires_grad=True)
    ours = _parameter_grads(net, (hp.divergence(net, x.detach()) ** 2).sum())
    reference = _parameter_grads(net, (brute(net, x, 1)[0].sum(-1) ** 2).sum())
    for name, grad in reference.items():
        if grad is None:  # the transformer's last bias does not affect D_dim f
            assert ours[name] is None, name
        else:
            assert_close_rel(ours[name], grad, 1e-5)
    assert ours["conditioner.first_weight"].abs().max() > 0


def test_a_naive_detach_would_drop_the_conditioner_gradient(net_factory):
    """What the engine must not do: τ(x, h.detach()) leaves the conditioner untrained."""
    net = net_factory(5, torch.float64, 4)
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    h = net.conditioner(x, None).detach()
    (d1,) = torch.autograd.grad(net.transform(x, h, None).sum(), x, create_graph=True)
    naive = _parameter_grads(net, (d1 ** 2).sum())
    ours = _parameter_grads(net, (hp.dim_derivative(net, x.detach(), 1) ** 2).sum())
    name = "conditioner.decoder.last.weight"
    assert naive[name] is None
    assert ours[name] is not None and ours[name].abs().max() > 0
