"""The multicomplex engine against torch.func in float64, at h = 0 and at a finite step,
values and the gradients of a loss on them with respect to the parameters."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import hodphys as hp

D, M = 3, 4


def _model(m: int = M) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D, 6), nn.Tanh(), nn.Linear(6, 5), nn.Softplus(), nn.Linear(5, m)).double()


def _inputs():
    g = torch.Generator().manual_seed(1)
    x, v, u = (torch.randn(7, D, generator=g, dtype=torch.float64) for _ in range(3))
    return x, v, u, torch.randn(7, M, generator=g, dtype=torch.float64)


QUANTITIES = {
    "jacobian": lambda model, x, v, u, w, **kw: hp.jacobian(model, x, **kw),
    "hessian": lambda model, x, v, u, w, **kw: hp.hessian(model, x, **kw),
    "laplacian": lambda model, x, v, u, w, **kw: hp.laplacian(model, x, **kw),
    "hvp": lambda model, x, v, u, w, **kw: hp.hvp(model, x, v, **kw),
    "directional2": lambda model, x, v, u, w, **kw: hp.directional(model, x, [v, u], **kw),
    "directional3": lambda model, x, v, u, w, **kw: hp.directional(model, x, [v, u, v], **kw),
    "directional_grad2": lambda model, x, v, u, w, **kw: hp.directional_grad(model, x, [v, u], w, **kw),
}


@pytest.mark.parametrize("quantity", sorted(QUANTITIES))
@pytest.mark.parametrize("h, tolerance", [(0.0, 1e-10), (1e-5, 1e-8)])
def test_values_match_torch_func(quantity, h, tolerance):
    model, (x, v, u, w) = _model(), _inputs()
    expected = QUANTITIES[quantity](model, x, v, u, w, method="autograd")
    found = QUANTITIES[quantity](model, x, v, u, w, method="multicomplex", h=h)
    torch.testing.assert_close(found, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("quantity", ["hessian", "laplacian", "directional3", "directional_grad2"])
def test_parameter_gradients_match_torch_func(quantity):
    model, (x, v, u, w) = _model(), _inputs()
    grads = []
    for method in ("autograd", "multicomplex"):
        loss = QUANTITIES[quantity](model, x, v, u, w, method=method).square().sum()
        grads.append(torch.autograd.grad(loss, list(model.parameters()), allow_unused=True,
                                         materialize_grads=True))
    for found, expected in zip(grads[1], grads[0]):
        torch.testing.assert_close(found, expected, rtol=1e-10, atol=1e-10)


def test_hessian_of_a_many_input_scalar_uses_csfd_bp_and_matches():
    # d > 2m takes the CSFD-BP branch (forward perturbations, backward seeds)
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    torch.testing.assert_close(hp.hessian(model, x, method="multicomplex"), hp.hessian(model, x, method="autograd"))
