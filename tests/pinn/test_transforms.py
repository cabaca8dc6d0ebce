"""Fourier features and hard constraints in every engine against torch.func."""
import math

import pytest
import torch
from torch import nn
from torch.func import hessian, jacrev, vmap

import hodphys as hp
from hodphys.nn import FourierFeatures, HardConstraint

ENGINES = ["autograd", "analytic-forward", "analytic-backward", "multicomplex", "reverse"]


def fourier_net(dtype):
    torch.manual_seed(0)
    features = FourierFeatures(2, 6, scale=2.0, generator=torch.Generator().manual_seed(1))
    return nn.Sequential(features, nn.Linear(12, 10), nn.Tanh(), nn.Linear(10, 2)).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("method", [e for e in ENGINES if e != "reverse"])
def test_fourier_features_in_every_engine(method, dtype):
    model, x = fourier_net(dtype), torch.rand(7, 2, dtype=dtype)
    f = lambda z: model(z[None])[0]  # noqa: E731
    tolerance = 1e-10 if dtype == torch.float64 else 1e-4
    h = vmap(hessian(f))(x)
    assert torch.allclose(hp.hessian(model, x, method=method), h, rtol=tolerance, atol=tolerance)
    assert torch.allclose(hp.jacobian(model, x, method=method), vmap(jacrev(f))(x), rtol=tolerance, atol=tolerance)
    # the features are sin(Bx), cos(Bx) with one B
    z = model[0](x)
    assert torch.allclose(z[:, :6] ** 2 + z[:, 6:] ** 2, torch.ones(7, 6, dtype=dtype), atol=tolerance)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("method", ENGINES)
def test_hard_constraint_partials_in_every_engine(method, dtype):
    torch.manual_seed(2)
    inner = nn.Sequential(nn.Linear(2, 10), nn.Tanh(), nn.Linear(10, 1)).to(dtype)
    g = lambda x: torch.sin(math.pi * x[:, :1]) * torch.exp(x[:, 1:])  # noqa: E731
    ell = lambda x: x[:, :1] * (1 - x[:, :1]) * x[:, 1:]  # noqa: E731  zero at x = 0, 1 and t = 0
    model, x = HardConstraint(inner, g, ell), torch.rand(9, 2, dtype=dtype)
    spec = ["u", "u_x", "u_t", "u_xx", "u_xt", "u_tt", "lap(u)"]
    got = hp.partials(model, x, spec, inputs=["x", "t"], method=method)
    f = lambda z: model(z[None])[0]  # noqa: E731
    j, h = vmap(jacrev(f))(x)[:, 0], vmap(hessian(f))(x)[:, 0]
    want = {"u": model(x)[:, 0], "u_x": j[:, 0], "u_t": j[:, 1], "u_xx": h[:, 0, 0], "u_xt": h[:, 0, 1],
            "u_tt": h[:, 1, 1], "lap(u)": h[:, 0, 0]}
    tolerance = 1e-10 if dtype == torch.float64 else 1e-4
    for name in spec:
        assert torch.allclose(got[name][:, 0], want[name], rtol=tolerance, atol=tolerance), name
    edge = torch.tensor([[0.0, 0.3], [1.0, 0.7], [0.4, 0.0]], dtype=dtype)
    assert torch.allclose(model(edge), g(edge), atol=1e-6)  # u = g where ℓ = 0


def test_bad_transforms_are_clear_errors():
    with pytest.raises(ValueError, match="FourierFeatures: expected in_features ≥ 1"):
        FourierFeatures(2, 0)
    model = HardConstraint(nn.Sequential(nn.Linear(2, 3)), lambda x: x, lambda x: 1.0)
    with pytest.raises(ValueError, match=r"must return a float or a tensor of shape \(N, 1\) or \(N, m\) = \(4, 3\)"):
        model(torch.rand(4, 2))
    with pytest.raises(ValueError, match="cannot tell the network's number of outputs"):
        HardConstraint(nn.Tanh(), lambda x: 0.0, lambda x: 1.0)
