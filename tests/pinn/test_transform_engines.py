"""Every hp.* quantity of models with output transforms (u = g + ℓ·N) and input transforms (Fourier
features, affine normalisation) through every engine, against torch.func on the whole model."""
import math

import pytest
import torch
from torch import nn
from torch.func import jacfwd, vmap

import hodphys as hp
from hodphys.nn import FourierFeatures, HardConstraint, affine_input

ENGINES = ["analytic-forward", "analytic-backward", "multicomplex", "auto"]


def constrained(seed: int, d: int, m: int, dtype: torch.dtype, fourier: bool) -> HardConstraint:
    torch.manual_seed(seed)
    first = [FourierFeatures(d, 4, scale=1.5, generator=torch.Generator().manual_seed(seed)), nn.Linear(8, 9)] \
        if fourier else [affine_input(torch.full((d,), -1.0), torch.full((d,), 2.0)), nn.Linear(d, 9)]
    net = nn.Sequential(*first, nn.Tanh(), nn.Linear(9, 9), nn.Softplus(), nn.Linear(9, m)).to(dtype)
    g = lambda x: torch.sin(math.pi * x[:, :1]) * torch.exp(x[:, -1:]) + x[:, :m] ** 2  # noqa: E731  (N, m)
    ell = lambda x: x[:, :1] * (1 - x[:, :1]) * torch.cos(x.sum(-1, keepdim=True))  # noqa: E731  (N, 1)
    return HardConstraint(net, g, ell)


def reference(model, x, n):
    f = lambda z: model(z[None])[0]  # noqa: E731
    fns = [f]
    for _ in range(n):
        fns.append(jacfwd(fns[-1]))
    return [vmap(fn)(x) for fn in fns]


CASES = [(0, 2, 1, True), (1, 3, 3, False), (2, 2, 2, True)]  # seed, d, m, Fourier features


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("method", ENGINES)
@pytest.mark.parametrize("case", CASES)
def test_every_quantity_of_a_hard_constraint(case, method, dtype):
    seed, d, m, fourier = case
    model = constrained(seed, d, m, dtype, fourier)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(6, d, generator=gen, dtype=torch.float64).to(dtype)
    v, w, u = (torch.randn(6, k, generator=gen, dtype=torch.float64).to(dtype) for k in (d, d, m))
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    close = lambda a, b: torch.testing.assert_close(a, b, rtol=tol, atol=tol)  # noqa: E731
    f, jac, hess, third = reference(model, x, 3)
    close(hp.jacobian(model, x, method=method), jac)
    close(hp.hessian(model, x, method=method), hess)
    close(hp.laplacian(model, x, method=method), hess.diagonal(dim1=-2, dim2=-1).sum(-1))
    close(hp.hvp(model, x, v, method=method), torch.einsum("bmij,bj->bmi", hess, v))
    out = hp.derivatives(model, x, hessian=True, method=method)
    close(out.value, f), close(out.jacobian, jac), close(out.hessian, hess)
    if method != "analytic-backward":  # its directional is order 0: refused, see the test below
        close(hp.directional(model, x, [v, w], method=method), torch.einsum("bmij,bi,bj->bm", hess, v, w))
        close(hp.directional(model, x, [v, w, v], method=method),
              torch.einsum("bmijk,bi,bj,bk->bm", third, v, w, v))
        close(hp.directional_grad(model, x, [v], u, method=method), torch.einsum("bmij,bm,bj->bi", hess, u, v))
    if m == d and method != "analytic-backward":
        close(hp.divergence(model, x, method=method), jac.diagonal(dim1=-2, dim2=-1).sum(-1))
        idx = torch.arange(d)
        close(hp.dim_derivative(model, x, k=2, method=method), hess[:, idx, idx, idx])


@pytest.mark.parametrize("quantity", ["hessian", "laplacian", "jacobian"])
def test_explain_shows_the_product_rule_over_a_rule_engine(quantity):
    model, x = constrained(0, 2, 1, torch.float64, True), torch.rand(5, 2, dtype=torch.float64)
    choice = hp.explain(model, x, quantity)
    assert choice.chosen != "autograd" and "product rule" in choice.quantity
    assert "analytic-forward" in choice.costs and "multicomplex" in choice.costs


def test_a_refusal_names_what_the_network_engine_cannot_do():
    model, x = constrained(0, 2, 1, torch.float64, True), torch.rand(5, 2, dtype=torch.float64)
    with pytest.raises(NotImplementedError, match=r"method='analytic-backward' cannot do this: .*HardConstraint.net"):
        hp.directional(model, x, [x[0], x[0]], method="analytic-backward")


def test_gradients_flow_to_the_network_and_to_the_constraint():
    model = constrained(3, 2, 1, torch.float64, True)
    scale = nn.Parameter(torch.tensor(0.7, dtype=torch.float64))
    model.offset = lambda x: scale * torch.sin(x[:, :1])  # noqa: E731
    x = torch.rand(5, 2, dtype=torch.float64)
    params = [*model.net.parameters(), scale]
    params = [p for p in params if p.requires_grad]
    grads = torch.autograd.grad(hp.laplacian(model, x, method="multicomplex").square().sum(), params)
    want = torch.autograd.grad(hp.laplacian(model, x, method="autograd").square().sum(), params)
    for a, b in zip(grads, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_trainable_fourier_features_and_affine_inputs():
    features = FourierFeatures(2, 3, trainable=True)
    assert all(p.requires_grad for p in features.parameters())
    assert not any(p.requires_grad for p in FourierFeatures(2, 3).parameters())
    affine = affine_input(torch.tensor([0.0, -2.0]), torch.tensor([1.0, 2.0]))
    corners = affine(torch.tensor([[0.0, -2.0], [1.0, 2.0]]))
    torch.testing.assert_close(corners, torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match=r"affine_input: expected low < high .* got low \[0.0\], high \[0.0\]"):
        affine_input(torch.tensor([0.0]), torch.tensor([0.0]))


def test_an_uncovered_module_is_named_in_one_line():
    class Custom(nn.Module):
        def forward(self, x):
            return x * 2

    model = nn.Sequential(nn.Linear(2, 3), Custom())
    with pytest.raises(NotImplementedError) as err:
        hp.hessian(model, torch.rand(4, 2), method="multicomplex")
    assert "no multicomplex rule for Custom at model[1]" in str(err.value) and "\n" not in str(err.value)


def test_the_heat_problem_with_a_hard_constraint_meets_its_data_exactly():
    from hodphys.app.problem_loader import find_problem

    heat = find_problem("heat")
    problem = heat.problem(heat.Config(hard=True, dtype="float64", widths=[8]))
    model = problem.build_model()
    assert [c.name for c in problem.conditions] == ["neumann_right"]
    edge = torch.tensor([[0.0, 0.3], [0.0, 0.9], [0.25, 0.0], [0.8, 0.0]], dtype=torch.float64)
    exact = torch.exp(-0.4 * math.pi**2 / 4 * edge[:, 1:]) * torch.sin(math.pi / 2 * edge[:, :1])
    torch.testing.assert_close(model(edge), exact, rtol=0, atol=1e-15)
    choice = hp.explain(model, edge, "derivatives", hessian=True)
    assert choice.chosen != "autograd" and "product rule" in choice.quantity


def test_leading_batch_shapes_plans_and_divergence_with_value():
    model = constrained(1, 3, 3, torch.float64, False)
    x = torch.rand(4, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = hp.divergence(model, x, return_value=True)
    torch.testing.assert_close(out.divergence, hp.divergence(model, x, method="autograd"), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out.value, model(x.reshape(-1, 3)).reshape(4, 5, 3))
    plan = hp.plan(model, x, "laplacian")
    assert plan.engine_name == "auto + product rule"
    torch.testing.assert_close(plan(x), hp.laplacian(model, x, method="autograd"), rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        h = hp.hessian(model, x, method="multicomplex")
    assert h.shape == (4, 5, 3, 3, 3) and not h.requires_grad
