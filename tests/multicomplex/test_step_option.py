"""Issue 16, item 11: ``method="multicomplex", h=…`` acts wherever it is accepted (O(h²) away from
h = 0) and is refused where it cannot act (first-order steps are exact for every h)."""
import pytest
import torch

import hodphys as hp
from tests.multicomplex.test_engine import inputs, mixed_net


def _order_h_squared(compute) -> None:
    exact = compute(0.0)
    errors = [(compute(h) - exact).abs().max().item() for h in (2.0 ** -5, 2.0 ** -6)]
    assert errors[1] > 0 and 3.0 < errors[0] / errors[1] < 5.0, errors


@pytest.mark.parametrize("m", [1, 2])  # m = 1 < d/2 took the order-1 CSFD-BP path, where h did nothing
def test_hessian_and_hvp_with_a_step_are_finite_step_results(m):
    model = mixed_net(3, m, seed=3)
    x, (v,) = inputs(3, (4,), 3, 1)
    _order_h_squared(lambda h: hp.hessian(model, x, method="multicomplex", h=h))
    _order_h_squared(lambda h: hp.hvp(model, x, v, method="multicomplex", h=h))
    _order_h_squared(lambda h: hp.laplacian(model, x, method="multicomplex", h=h))


def test_derivatives_apply_the_step_to_the_second_order_and_keep_the_exact_jacobian():
    model = mixed_net(3, 2, seed=3)
    x, _ = inputs(3, (4,), 3, 0)
    exact = hp.derivatives(model, x, method="autograd", hessian=True)
    _order_h_squared(lambda h: hp.derivatives(model, x, method="multicomplex", h=h, hessian=True).hessian)
    stepped = hp.derivatives(model, x, method="multicomplex", h=2.0 ** -5)
    torch.testing.assert_close(stepped.jacobian, exact.jacobian, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call", ["jacobian", "divergence", "directional", "directional_grad", "dim_derivative",
                                  "derivatives"])
def test_a_step_where_it_cannot_act_is_refused(call):
    model = mixed_net(3, 3, seed=3)
    x, (v,) = inputs(3, (4,), 3, 1)
    arguments = {"jacobian": (), "divergence": (), "directional": ([v],), "directional_grad": ([v], torch.ones_like(x)),
                 "dim_derivative": (), "derivatives": ()}[call]
    options = {"laplacian": False} if call == "derivatives" else {}
    with pytest.raises(ValueError, match=r"method='multicomplex' with h=0.01: .* exact for every h, so h would "
                                         r"have no effect; drop h"):
        getattr(hp, call)(model, x, *arguments, method="multicomplex", h=0.01, **options)
    getattr(hp, call)(model, x, *arguments, method="multicomplex", h=0.0, **options)  # h = 0 is the default
