"""Parity with hessQuik (in the ``test`` extra, so this runs in CI): identical weights, identical derivatives."""
import pytest
import torch
from torch import nn

import hodphys as hp
from hodphys.bench.references import hessquik
from tests.analytic.nets import build
from tests.helpers import assert_close_rel

NETWORKS = {
    "timing": lambda: hp.nn.ResNet(5, 16, 4, 2, step=0.5, opening_activation=hp.nn.LogCosh()),
    "mlp-softplus": lambda: hp.nn.MLP([3, 6, 6, 2], activation=nn.Softplus(beta=2.0)),
    "icnn": lambda: build("icnn", 3, 1),
    "quadratic": lambda: nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), hp.nn.QuadraticLayer(4, 2)),
    "logcosh-residual": lambda: hp.nn.ResNet(3, 5, 2, 1, activation=hp.nn.LogCosh()),
}


@pytest.mark.parametrize("forward_mode", [True, False])
@pytest.mark.parametrize("method", ["analytic-forward", "analytic-backward"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_identical_weights_give_identical_hessians(name, method, forward_mode):
    torch.manual_seed(0)
    model = NETWORKS[name]().double()
    x = torch.randn(6, model[0].in_features, dtype=torch.float64)
    twin = hessquik.to_hessquik(model)
    value, grad, hess = twin(x, do_gradient=True, do_Hessian=True, forward_mode=forward_mode)
    ours = hp.derivatives(model, x, jacobian=True, hessian=True, method=method)
    assert_close_rel(ours.hessian, hess.permute(0, 3, 1, 2), 1e-12)
    assert_close_rel(ours.jacobian, grad.permute(0, 2, 1), 1e-12)
    assert_close_rel(ours.value, value.reshape(ours.value.shape), 1e-12)


def test_twin_errors_name_what_hessquik_lacks():
    with pytest.raises(ValueError, match="hessQuik has no activation for SiLU"):
        hessquik.to_hessquik(nn.Sequential(nn.Linear(2, 3), nn.SiLU()))
    with pytest.raises(ValueError, match="an activation .* must follow an nn.Linear"):
        hessquik.to_hessquik(nn.Sequential(nn.Tanh(), nn.Linear(2, 3)))
    with pytest.raises(ValueError, match="hessQuik has no layer for Bilinear"):
        hessquik.to_hessquik(nn.Sequential(nn.Bilinear(2, 2, 3)))
    with pytest.raises(ValueError, match="cannot absorb hessQuik's antiTanh offset into QuadraticLayer"):
        hessquik.to_hessquik(nn.Sequential(nn.Linear(2, 3), hp.nn.LogCosh(), hp.nn.QuadraticLayer(3, 1)))


def test_twin_without_hessquik_says_how_to_install(monkeypatch):
    monkeypatch.setattr(hessquik, "available", lambda: False)
    with pytest.raises(ImportError, match=r"pip install hessQuik \(or hodphys\[bench\]\)"):
        hessquik.to_hessquik(hp.nn.MLP([2, 3, 1]))
