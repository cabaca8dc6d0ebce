"""The split-form kernels agree with the generic multicomplex product and Taylor series."""
from __future__ import annotations

import math

import pytest
import torch

from hodphys import elementwise
from hodphys.multicomplex.algebra import multiply, taylor
from hodphys.multicomplex.kernels import _set_partitions, broadcast_shape, compose_exact, product_imag


def _stack(real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
    shape = torch.broadcast_shapes(real.shape, imag.shape[1:])
    return torch.cat([real.expand(1, *shape), imag.expand(-1, *shape)])


@pytest.mark.parametrize("mask, count", [(0b1, 1), (0b11, 2), (0b111, 5), (0b1111, 15), (0b10101, 5)])
def test_set_partitions_are_the_bell_numbers(mask, count):
    partitions = _set_partitions(mask)
    assert len(partitions) == len(set(partitions)) == count
    for blocks in partitions:
        assert sum(blocks) == mask and all(a & b == 0 for a in blocks for b in blocks if a is not b)


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("h", [0.0, 0.3])
def test_product_imag_matches_generic_product(order, h):
    g = torch.Generator().manual_seed(order)
    a_real, b_real = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(1, 4, generator=g, dtype=torch.float64)
    a_imag = torch.randn((1 << order) - 1, 3, 1, 4, generator=g, dtype=torch.float64)
    b_imag = torch.randn((1 << order) - 1, 3, 5, 4, generator=g, dtype=torch.float64)
    expected = multiply(_stack(a_real, a_imag), _stack(b_real, b_imag), order, h)[1:]
    torch.testing.assert_close(product_imag(a_real, a_imag, b_real, b_imag, order, h), expected)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_compose_exact_matches_taylor_at_h0(order):
    g = torch.Generator().manual_seed(order)
    x = torch.randn(6, 2, generator=g, dtype=torch.float64)
    imag = torch.randn((1 << order) - 1, 3, 1, 2, generator=g, dtype=torch.float64)
    derivatives = elementwise.Tanh().derivatives(x, order)
    expected = taylor(derivatives, _stack(torch.zeros_like(x), imag), order, 0.0)[1:]
    torch.testing.assert_close(compose_exact(derivatives, imag, order), expected)


def test_compose_exact_third_order_by_hand():
    # f(x + e1 i1 + e2 i2 + e3 i3)_{123} = f''' e1 e2 e3 for a pure first-order perturbation
    x = torch.tensor([0.4], dtype=torch.float64)
    imag = torch.zeros(7, 1, 1, dtype=torch.float64)
    imag[0], imag[1], imag[3] = 2.0, 3.0, 5.0
    f = elementwise.Sin().derivatives(x, 3)
    top = compose_exact(f, imag, 3)[-1]
    torch.testing.assert_close(top, torch.tensor([[-math.cos(0.4) * 30.0]], dtype=torch.float64))


@pytest.mark.parametrize("shapes", [[(3, 1, 4), (5, 1)], [(2,), ()], [(1, 1), (1,)], [(4, 2, 1), (4, 1, 7), (7,)], []])
def test_broadcast_shape_matches_torch(shapes):
    assert broadcast_shape(*shapes) == torch.broadcast_shapes(*shapes)


def test_broadcast_shape_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match=r"do not broadcast: sizes \[2, 3\] at axis -1"):
        broadcast_shape((4, 3), (2,))
