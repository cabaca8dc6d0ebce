"""HoD-Net Newton–Krylov (Algorithm 1): CSFD-BP products, CG, negative curvature, skipped batches."""
import pytest
import torch
from torch import nn

import hodphys as hp
from hodphys.train import NewtonKrylov
from tests.helpers import mlp

F64 = torch.float64


class Vector(nn.Module):
    def __init__(self, n, value=0.0):
        super().__init__()
        self.w = nn.Parameter(torch.full((n,), value, dtype=F64))


def test_one_pass_solves_a_convex_quadratic():
    torch.manual_seed(0)
    n = 6
    q = torch.randn(n, n, dtype=F64)
    a, b = q @ q.T + n * torch.eye(n, dtype=F64), torch.randn(n, dtype=F64)
    model = Vector(n)
    optimizer = NewtonKrylov(model, cg_iters=n, cg_tol=1e-12, target=0.99)
    optimizer.step(lambda m, i: 0.5 * m.w @ a @ m.w - b @ m.w + 10.0, 1)
    assert torch.allclose(model.w.detach(), torch.linalg.solve(a, b), atol=1e-12)
    assert optimizer.state_dict()["state"][0]["passes"] == 1


def test_hessian_vector_products_are_csfd_bp_of_a_pinn_loss():
    """H·p of a loss on the Laplacian, from dual (h → 0) CSFD-BP, equals double backward."""
    torch.manual_seed(1)
    model = mlp(2, [12, 12], 3)
    x = torch.rand(20, 2, dtype=F64)

    def loss(m, i):
        return (hp.laplacian(m, x) - 1.0).square().mean() + m(x[:4]).square().mean()

    optimizer = NewtonKrylov(model)
    direction = torch.randn(sum(p.numel() for p in model.parameters()), dtype=F64)
    gradient, product = optimizer.gradient_and_hvp(loss, 0, direction)
    params = list(model.parameters())
    first = torch.autograd.grad(loss(model, 0), params, create_graph=True)
    flat = torch.cat([g.reshape(-1) for g in first])
    expected = torch.cat([g.reshape(-1) for g in torch.autograd.grad(flat @ direction, params)])
    assert torch.allclose(gradient, flat.detach(), rtol=1e-12, atol=1e-14)
    assert torch.allclose(product, expected, rtol=1e-10, atol=1e-12)


def test_negative_curvature_stops_cg_and_the_step_still_descends():
    model = Vector(2)
    with torch.no_grad():
        model.w[1] = 0.1  # near the saddle at 0: ∇²f = diag(1, −0.88), ∇f = (0, −0.096)
    curvature = torch.tensor([1.0, -1.0], dtype=F64)

    def loss(m, i):  # a saddle, bounded below by the quartic
        return 0.5 * (curvature * m.w**2).sum() + (m.w**4).sum() + 1.0

    optimizer = NewtonKrylov(model, cg_iters=10, target=0.99)
    before = float(loss(model, 0).detach())
    after = optimizer.step(loss, 1)
    state = optimizer.state_dict()["state"][0]
    assert state["negative_curvature"] >= 1 and after < before


def test_a_minibatch_that_disagrees_with_the_global_gradient_is_skipped():
    model = Vector(1)
    centres = [1.0, -1.0]
    weights = [1.0, 3.0]  # at w = 0 the global gradient points with minibatch 1, against minibatch 0

    def loss(m, i):
        return weights[i] * (m.w - centres[i]).square().sum() + 0.1

    optimizer = NewtonKrylov(model, cg_iters=3, target=0.99)
    optimizer.step(loss, 2)
    state = optimizer.state_dict()["state"][0]
    assert state["skipped"] == 1
    assert float(model.w.detach()) == pytest.approx(-1.0)  # only minibatch 1's Newton step was taken


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match=r"NewtonKrylov: expected cg_iters ≥ 1, 0 < target < 1 and cg_tol > 0"):
        NewtonKrylov(Vector(1), cg_iters=0)
    with pytest.raises(ValueError, match=r"got cg_iters=5, target=1.5"):
        NewtonKrylov(Vector(1), cg_iters=5, target=1.5)
