"""The multicomplex algebra: field-like laws, the CR matrix form, complex128, steps and errors."""
import math

import pytest
import torch

from hodphys import elementwise
from hodphys.engines.multicomplex import MulticomplexTensor, check_step, default_step
from tests.helpers import assert_close_rel


def random_number(order: int, h: float, shape=(5,), seed: int = 0) -> MulticomplexTensor:
    g = torch.Generator().manual_seed(seed)
    comps = torch.randn((1 << order, *shape), generator=g, dtype=torch.float64)
    comps[0] += 3.0  # keep the real part away from zero so division is well conditioned
    return MulticomplexTensor(comps, order, h)


ORDERS_AND_STEPS = [(n, h) for n in (1, 2, 3, 4) for h in (0.0, 0.5, 2.0 ** -20)]


@pytest.mark.parametrize("order,h", ORDERS_AND_STEPS)
def test_product_is_associative_commutative_and_distributive(order, h):
    a, b, c = (random_number(order, h, seed=s) for s in (1, 2, 3))
    assert_close_rel(((a * b) * c).components, (a * (b * c)).components, 1e-14)
    assert_close_rel((a * b).components, (b * a).components, 1e-15)
    assert_close_rel((a * (b + c)).components, (a * b + a * c).components, 1e-14)


@pytest.mark.parametrize("order,h", ORDERS_AND_STEPS)
def test_cr_matrix_is_a_homomorphism(order, h):
    a, b = random_number(order, h, seed=4), random_number(order, h, seed=5)
    assert_close_rel(a.cr_matrix() @ b.cr_matrix(), (a * b).cr_matrix(), 1e-14)
    # the product is the CR matrix acting on the component vector
    product = (a.cr_matrix() @ b.components.T.unsqueeze(-1)).squeeze(-1).T
    assert_close_rel(product, (a * b).components, 1e-14)


@pytest.mark.parametrize("order,h", ORDERS_AND_STEPS)
def test_division_inverts_multiplication(order, h):
    a, b = random_number(order, h, seed=6), random_number(order, h, seed=7)
    assert_close_rel(((a * b) / b).components, a.components, 1e-13)
    one = MulticomplexTensor.from_real(torch.ones(5, dtype=torch.float64), order, h)
    assert_close_rel((b * b.reciprocal()).components, one.components, 1e-14)


def test_order_one_agrees_with_complex128():
    g = torch.Generator().manual_seed(0)
    za, zb = (torch.randn(7, 2, generator=g, dtype=torch.float64) for _ in range(2))
    za, zb = torch.view_as_complex(za), torch.view_as_complex(zb)
    a, b = MulticomplexTensor.from_complex(za, h=0.25), MulticomplexTensor.from_complex(zb, h=0.25)
    for ours, theirs in [(a + b, za + zb), (a - b, za - zb), (a * b, za * zb), (a / b, za / zb),
                         (2.5 * a, 2.5 * za), (1.0 / a, 1.0 / za), (3.0 - a, 3.0 - za)]:
        assert ours.to_complex().dtype == torch.complex128
        assert_close_rel(torch.view_as_real(ours.to_complex()), torch.view_as_real(theirs), 1e-14)


def test_scalar_operands_act_on_the_real_part():
    z = random_number(2, 0.0)
    assert torch.equal((z + 1.0).components[1:], z.components[1:])
    assert torch.equal((z + 1.0).real, z.real + 1.0)
    assert torch.equal((z * 2.0).components, 2.0 * z.components)


def test_part_scaled_and_unscaled():
    x = torch.tensor([0.3], dtype=torch.float64)
    z = MulticomplexTensor.perturb(x, [torch.ones(1, dtype=torch.float64)] * 2, h=2.0 ** -10)
    assert z.part(1).item() == 1.0 and z.part(2, scaled=False).item() == 2.0 ** -10
    assert z.part(1, 2).item() == 0.0 and z.part().item() == 0.3


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_default_step_is_a_power_of_two_that_never_underflows_order_4(dtype):
    h = default_step(dtype)
    assert math.log2(h).is_integer() and 0 < h < 1e-3
    assert check_step(h, 4, dtype) == h
    assert MulticomplexTensor.from_real(torch.zeros(2, dtype=dtype), 4).h == h


def test_scaled_storage_keeps_float32_derivatives_of_order_4_exact():
    # unscaled, h^4 = 2^-48 would be a denormal-free float32 only by luck; scaled it is O(1)
    x = torch.tensor([0.4], dtype=torch.float32)
    z = MulticomplexTensor.perturb(x, [torch.ones(1)] * 4)
    fourth = z.apply(elementwise.Sin()).part(1, 2, 3, 4)
    assert abs(fourth.item() - math.sin(0.4)) < 1e-5


def test_underflowing_step_is_refused():
    with pytest.raises(ValueError, match="underflows torch.float32"):
        MulticomplexTensor.from_real(torch.zeros(2), 6, h=2.0 ** -12)
    with pytest.raises(ValueError, match="finite and ≥ 0"):
        check_step(-1.0, 2, torch.float64)
    assert check_step(0.0, 40, torch.float32) == 0.0  # the multidual limit never underflows


def test_bad_construction_is_refused():
    with pytest.raises(ValueError, match="order 2 needs 4 components"):
        MulticomplexTensor(torch.zeros(3, 2), 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        MulticomplexTensor(torch.zeros(2, 2, dtype=torch.int64), 1)
    with pytest.raises(TypeError, match="float32 or float64"):
        default_step(torch.float16)
    z = random_number(2, 0.0)
    with pytest.raises(ValueError, match="units are 1..2"):
        z.part(3)
    with pytest.raises(ValueError, match="repeated"):
        z.part(1, 1)
    with pytest.raises(ValueError, match="operands differ"):
        z * random_number(3, 0.0)
    with pytest.raises(ValueError, match="needs order 1"):
        z.to_complex()
    with pytest.raises(ValueError, match="needs h > 0"):
        MulticomplexTensor.from_complex(torch.zeros(2, dtype=torch.complex128), h=0.0)


def test_broadcast_shape_matches_torch():
    from hodphys.shapes import broadcast_shape

    for shapes in [((3, 1, 5), (4, 1), ()), ((1,), (2, 3)), ((0, 1), (1, 7))]:
        assert broadcast_shape(*shapes) == tuple(torch.broadcast_shapes(*shapes))
    with pytest.raises(ValueError, match="do not broadcast"):
        broadcast_shape((2, 3), (4, 3))
