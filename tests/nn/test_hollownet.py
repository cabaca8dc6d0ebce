"""HollowNet the module: hollowness by construction (exact zeros), shapes, time/context, errors."""
import pytest
import torch
from torch import nn
from torch.func import jacrev, vmap

import hodphys as hp
from hodphys.nn import HollowNet
from hodphys.nn.hollow.conditioners import leave_one_out_mean


def _own_block_jacobian(net: HollowNet, x: torch.Tensor) -> torch.Tensor:
    """[∂h_{i,c}/∂x_i] by reverse mode over the full conditioner Jacobian: (N, d, c)."""
    flat = x.reshape(-1, net.d)
    jac = vmap(jacrev(lambda y: net.conditioner(y.unsqueeze(0), None)[0]))(flat)  # (N, d, c, d)
    return jac.diagonal(dim1=1, dim2=3)


@pytest.mark.parametrize("conditioner", ["sum", "masked"])
@pytest.mark.parametrize("d", [1, 2, 5, 16])
@pytest.mark.parametrize("shape", [(3,), (2, 4)], ids=["(B,d)", "(B,N,d)"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_conditioner_derivative_on_own_dimension_is_exactly_zero(conditioner, d, shape, dtype):
    torch.manual_seed(d)
    net = HollowNet(d, hidden_features=3, conditioner=conditioner, width=8).to(dtype)
    x = torch.randn(*shape, d, dtype=dtype)
    own = _own_block_jacobian(net, x)
    assert own.abs().max().item() == 0.0
    if d > 1:  # the conditioner does see the other dimensions
        full = vmap(jacrev(lambda y: net.conditioner(y.unsqueeze(0), None)[0]))(x.reshape(-1, d))
        assert full.abs().max().item() > 0.0


def test_leave_one_out_mean_leaves_out_exactly_one():
    u = torch.randn(3, 6, 4, dtype=torch.float64)
    expected = (u.sum(-2, keepdim=True) - u) / 5
    assert torch.allclose(leave_one_out_mean(u), expected, atol=1e-14)
    assert leave_one_out_mean(u[:, :1]).abs().max() == 0.0  # d = 1: nothing to pool


@pytest.mark.parametrize("conditioner", ["sum", "masked"])
def test_shapes_and_features(conditioner):
    net = HollowNet(5, hidden_features=7, conditioner=conditioner, time=True, context_features=2)
    assert net.in_features == net.out_features == net.d == 5
    x = torch.randn(2, 3, 5)
    assert net.conditioner(x, torch.randn(2, 3, 3)).shape == (2, 3, 5, 7)
    assert net(x, 0.5, torch.randn(2)).shape == (2, 3, 5)
    assert net(x, torch.rand(2, 3, 1), torch.randn(2, 3, 2)).shape == (2, 3, 5)
    bound = net.bind(t=torch.tensor(0.1), context=torch.zeros(2))
    assert bound.in_features == bound.out_features == 5
    assert torch.equal(bound(x), net(x, 0.1, torch.zeros(2)))
    assert {n for n, _ in bound.named_parameters()} == {"net." + n for n, _ in net.named_parameters()}


def test_time_and_context_change_the_output():
    torch.manual_seed(0)
    net = HollowNet(3, time=True, context_features=1).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    assert not torch.allclose(net(x, 0.0, one), net(x, 1.0, one))
    assert not torch.allclose(net(x, 0.0, one), net(x, 0.0, -one))


def test_custom_conditioner_is_used():
    """f_i = τ(x_i, h_i) with h_i from the given conditioner: here h_i = Σ_{j≠i} x_j, by hand."""
    class LeaveOneOutSum(nn.Module):
        features = 1

        def forward(self, x, extra=None):
            return (x.sum(-1, keepdim=True) - x).unsqueeze(-1)      # (*B, d, 1)

    torch.manual_seed(0)
    net = HollowNet(3, conditioner=LeaveOneOutSum()).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    h = torch.stack([x[:, 1] + x[:, 2], x[:, 0] + x[:, 2], x[:, 0] + x[:, 1]], dim=-1).unsqueeze(-1)
    assert isinstance(net.conditioner, LeaveOneOutSum)
    torch.testing.assert_close(net(x), net.transform(x, h, None), rtol=1e-14, atol=1e-15)
    assert (net(x) - net.transform(x, torch.zeros_like(h), None)).abs().max() > 1e-3   # h matters
    # ∂f_i/∂x_j (j ≠ i) = ∂τ/∂h_i, the same for every j ≠ i, because ∂h_i/∂x_j = 1
    jacobian = hp.jacobian(net, x, method="autograd")
    torch.testing.assert_close(jacobian[:, 0, 1], jacobian[:, 0, 2], rtol=1e-12, atol=1e-14)
    assert jacobian[:, 0, 1].abs().min() > 0


def test_construction_errors():
    with pytest.raises(ValueError, match=r"expected d to be an integer ≥ 1, got 0"):
        HollowNet(0)
    with pytest.raises(ValueError, match="expected transformer_depth to be an integer ≥ 1"):
        HollowNet(3, transformer_depth=0)
    with pytest.raises(ValueError, match="context_features to be an integer ≥ 0"):
        HollowNet(3, context_features=-1)
    with pytest.raises(ValueError, match="smooth elementwise activation"):
        HollowNet(3, activation=nn.ReLU())
    with pytest.raises(ValueError, match="unknown conditioner='attention'"):
        HollowNet(3, conditioner="attention")
    with pytest.raises(ValueError, match="needs an int attribute `features`"):
        HollowNet(3, conditioner=nn.Linear(3, 3))


def test_forward_errors_name_the_input():
    net = HollowNet(4)
    with pytest.raises(ValueError, match=r"HollowNet\(d=4\): expected x\[\.\.\., 4\], got x of shape \(2, 3\)"):
        net(torch.randn(2, 3))
    with pytest.raises(ValueError, match="takes no time input"):
        net(torch.randn(2, 4), t=0.5)
    with pytest.raises(ValueError, match="takes no context"):
        net(torch.randn(2, 4), context=torch.zeros(2, 1))
    timed = HollowNet(4, time=True, context_features=2)
    with pytest.raises(ValueError, match="forward needs a time t"):
        timed(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"forward needs a context of shape \(\*B, 2\)"):
        timed(torch.randn(2, 4), t=0.1)
    with pytest.raises(ValueError, match=r"expected context of shape \(\*B, 2\), got \(2, 3\)"):
        timed(torch.randn(2, 4), t=0.1, context=torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"t of shape \(5,\) does not broadcast against the batch shape \(2,\)"):
        timed(torch.randn(2, 4), t=torch.zeros(5), context=torch.zeros(2))
