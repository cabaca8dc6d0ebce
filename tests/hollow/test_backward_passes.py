"""D_dim^k costs exactly k backward passes at every d (counted, not timed)."""
import pytest
import torch

import hodphys as hp
from hodphys.engines.hollow import value_and_dim_derivatives


@pytest.fixture
def count_backward_passes(monkeypatch):
    """Counts torch.autograd.grad and torch.autograd.backward calls."""
    calls = []
    grad, backward = torch.autograd.grad, torch.autograd.backward

    def counted_grad(*args, **kwargs):
        calls.append("grad")
        return grad(*args, **kwargs)

    def counted_backward(*args, **kwargs):
        calls.append("backward")
        return backward(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counted_grad)
    monkeypatch.setattr(torch.autograd, "backward", counted_backward)
    return calls


@pytest.mark.parametrize("conditioner", ["sum", "masked"])
@pytest.mark.parametrize("d", [1, 8, 64, 256])
def test_k_backward_passes_whatever_d(conditioner, d, net_factory, count_backward_passes):
    net = net_factory(d, torch.float32, 0, conditioner, width=4, transformer_width=4)
    x = torch.randn(3, d)
    for k in (1, 2, 3):
        count_backward_passes.clear()
        out = hp.dim_derivative(net, x, k)
        assert out.shape == (3, d)
        assert count_backward_passes == ["grad"] * k
    count_backward_passes.clear()
    hp.divergence(net, x)
    assert count_backward_passes == ["grad"]


def test_value_and_divergence_share_one_forward_and_one_backward_pass(net_factory, count_backward_passes):
    net = net_factory(16, torch.float64, 3)
    forwards = []
    net.transformer.register_forward_hook(lambda *_: forwards.append(1))
    net.conditioner.register_forward_hook(lambda *_: forwards.append(1))
    hp.divergence(net, torch.randn(4, 16, dtype=torch.float64), return_value=True)
    assert count_backward_passes == ["grad"] and len(forwards) == 2
    hp.divergence(net, torch.randn(4, 16, dtype=torch.float64), vjp=torch.ones(16, dtype=torch.float64))
    assert count_backward_passes == ["grad"] * 2 and len(forwards) == 4


def test_all_orders_share_the_k_passes(net_factory, count_backward_passes):
    net = net_factory(32, torch.float64, 1)
    _, orders = value_and_dim_derivatives(net, torch.randn(4, 32, dtype=torch.float64), k=3)
    assert len(orders) == 3
    assert count_backward_passes == ["grad"] * 3


def test_brute_force_needs_d_times_more(net_factory, brute, count_backward_passes):
    """For contrast: the diagonal by plain autograd takes d·k passes."""
    d = 8
    net = net_factory(d, torch.float64, 2)
    brute(net, torch.randn(2, d, dtype=torch.float64, requires_grad=True), 2)
    assert len(count_backward_passes) == 2 * d
