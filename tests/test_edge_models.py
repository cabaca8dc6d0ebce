"""Edge-case networks every engine must get right: affine ones (no σ at all: every second and
higher derivative is zero, and nothing ever widens a broadcast zero), a bare nn.Linear, and a
network of activations only (no layer declares out_features)."""
import pytest
import torch
from torch import nn

import hodphys as hp
from tests.helpers import assert_close_rel

ENGINES = ["multicomplex", "analytic-forward", "analytic-backward"]


def _models():
    torch.manual_seed(0)
    return {
        "Linear": nn.Linear(3, 2),
        "Sequential(Linear)": nn.Sequential(nn.Linear(3, 2)),
        "Sequential(Linear, Linear)": nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)),
        "Sequential(Sigmoid)": nn.Sequential(nn.Sigmoid()),
        "Sequential(Tanh, Softplus)": nn.Sequential(nn.Tanh(), nn.Softplus()),
    }


def _calls(d, m):
    g = torch.Generator().manual_seed(1)
    v1, v2, v3 = (torch.randn(d, dtype=torch.float64, generator=g) for _ in range(3))
    w = torch.randn(m, dtype=torch.float64, generator=g)
    return {"jacobian": [], "hessian": [], "laplacian": [], "hvp": [v1], "directional": [[v1, v2, v3]],
            "directional_grad": [[v1, v2], w]}


@pytest.mark.parametrize("method", ENGINES)
@pytest.mark.parametrize("name", list(_models()))
def test_affine_and_activation_only_networks_match_torch_func(name, method):
    model = _models()[name].double()
    x = torch.randn(4, 3, dtype=torch.float64)
    m = model(x).shape[-1]
    served = 0
    for quantity, args in _calls(3, m).items():
        reference = getattr(hp, quantity)(model, x, *args, method="autograd")
        try:
            ours = getattr(hp, quantity)(model, x, *args, method=method)
        except NotImplementedError:
            continue  # this engine does not compute this quantity (its message says so)
        served += 1
        assert ours.shape == reference.shape, (quantity, ours.shape, reference.shape)
        assert_close_rel(ours, reference, 1e-10)
    assert served >= 4
    if m == 3:
        for k in (1, 2, 3):
            try:
                ours = hp.dim_derivative(model, x, k=k, method=method)
            except NotImplementedError:
                continue
            assert_close_rel(ours, hp.dim_derivative(model, x, k=k, method="autograd"), 1e-10)
