"""MulticomplexTensor operands with more axes broadcast on the value axes; complex operands and steps
whose powers overflow are refused."""
import pytest
import torch

import hodphys as hp
from hodphys.engines.multicomplex import MulticomplexTensor


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


def test_a_step_whose_powers_overflow_is_refused():
    model, x = hp.nn.MLP([3, 4, 1]), torch.randn(2, 3)
    with pytest.raises(ValueError, match="needs h\\^4, which overflows torch.float32"):
        hp.laplacian(model, x, method="multicomplex", h=1e10)
