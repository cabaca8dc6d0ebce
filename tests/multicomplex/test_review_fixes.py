"""Found by review: broadcasting of multicomplex operands with more axes, complex operands,
a concave softplus in an ICNN, and what jacobi_newton says and checks."""
import pytest
import torch
from torch import nn

import hodphys as hp
from hodphys.hollow import NewtonConvergenceError, jacobi_newton
from hodphys.multicomplex import MulticomplexTensor


def _z():
    return MulticomplexTensor(torch.tensor([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]], dtype=torch.float64), 1, h=0.0)


def test_operands_with_more_axes_broadcast_on_the_value_axes_only():
    z = _z()
    total = z + torch.zeros(1, 3, dtype=torch.float64)
    assert total.shape == (1, 3) and torch.equal(total.real, torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64))
    scaled = z * torch.tensor([[1.0] * 3, [2.0] * 3], dtype=torch.float64)
    assert scaled.shape == (2, 3)
    assert torch.equal(scaled.components[1], torch.tensor([[10.0, 20, 30], [20, 40, 60]], dtype=torch.float64))
    both = z + MulticomplexTensor(torch.zeros(2, 2, 3, dtype=torch.float64), 1, h=0.0)
    assert torch.equal(both.real, torch.tensor([[1.0, 2, 3], [1, 2, 3]], dtype=torch.float64))
    a = MulticomplexTensor(torch.rand(4, 3, dtype=torch.float64), 2, h=0.0)
    b = MulticomplexTensor(torch.rand(4, 2, 3, dtype=torch.float64), 2, h=0.0)
    product = a * b
    assert product.shape == (2, 3)
    assert torch.allclose(product.real, a.real * b.real)
    with pytest.raises(TypeError, match="complex operand is ambiguous"):
        z * torch.tensor([1j, 1j, 1j])


def test_icnn_refuses_a_concave_softplus():
    with pytest.raises(ValueError, match="must be convex"):
        hp.nn.ICNN(2, [8, 8], rank=1, activation=nn.Softplus(beta=-1.0))


def test_jacobi_newton_names_slow_progress_and_wrong_shapes():
    a = 0.8 * (torch.ones(4, 4, dtype=torch.float64) - torch.eye(4, dtype=torch.float64)) / 3
    slow = lambda t, y: (-(y @ a.T) / 0.1, torch.zeros_like(y))  # noqa: E731
    with pytest.raises(NewtonConvergenceError, match="still decreasing: raise max_iter"):
        jacobi_newton(slow, torch.randn(3, 4, dtype=torch.float64), 0.1, max_iter=8)
    with pytest.raises(ValueError, match=r"dynamics' f of y's shape \(3, 4\), got \(3, 1\)"):
        jacobi_newton(lambda t, y: (y[..., :1], torch.zeros_like(y)), torch.randn(3, 4), 0.1)
    with pytest.raises(TypeError, match=r"expected the dynamics to return \(f, D_dim f\)"):
        jacobi_newton(lambda t, y: y, torch.randn(3, 4), 0.1)


def test_steps_that_overflow_and_bad_residual_blocks_are_refused():
    model, x = hp.nn.MLP([3, 4, 1]), torch.randn(2, 3)
    with pytest.raises(ValueError, match="needs h\\^4, which overflows torch.float32"):
        hp.laplacian(model, x, method="multicomplex", h=1e10)
    from hodphys.nn.residual import ResidualBlock
    with pytest.raises(ValueError, match="expected a positive integer width"):
        ResidualBlock(0)
    with pytest.raises(ValueError, match="expected a finite step"):
        ResidualBlock(4, step=float("nan"))
