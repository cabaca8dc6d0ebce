"""Every loss term against a hand computation, with a nonzero residual (issue 18, item 3).

The model is affine, u = W x + b (or a sum of squares for second derivatives), so every
derivative is known in closed form and each term's mean can be written down independently.
"""
import math

import pytest
import torch
from torch import nn

from hodphys.nn import Quadratic
from hodphys.pinn import Dirichlet, Initial, Neumann, Observations, PinnConfig, Periodic, Problem, Robin
from hodphys.pinn.geometry import Box, Interval, SpaceTime

F64 = torch.float64


def affine(d, m, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, m)).double()


def config(**kw):
    return PinnConfig(dtype="float64", n_interior=64, n_boundary=32, **kw)


def square(conditions, **kw):
    kw.setdefault("pde", lambda f: f["u_x"] + 2 * f["u"])
    kw.setdefault("needs", ["u", "u_x"])
    return Problem(config(), Box([0, 0], [1, 2]), outputs=2, names=["u", "v"], conditions=conditions, **kw)


def terms_of(problem, model, seed=0):
    batch = problem.sample(torch.Generator().manual_seed(seed))
    loss, terms = problem.loss(model, batch)
    return batch, loss.detach(), {k: v.detach() for k, v in terms.items()}


@pytest.mark.parametrize("method", ["auto", "reverse", "analytic-forward", "multicomplex", "autograd"])
def test_pde_and_dirichlet_terms_and_their_weighted_sum(method):
    problem = square([Dirichlet(lambda x: x[:, :1] ** 2, on="left", components=["v"], weight=3.0)])
    problem.config.derivative_method = method
    model = affine(2, 2)
    batch, loss, terms = terms_of(problem, model)
    w, b = model[0].weight.detach(), model[0].bias.detach()
    x = batch["interior"]
    pde = (w[0, 0] + 2 * (x @ w[0] + b[0])).square().mean()  # u_x + 2u with u = w₀·x + b₀
    xl = batch["dirichlet_left"]
    assert (xl[:, 0] == 0).all()
    dirichlet = (xl @ w[1] + b[1] - 0.0).square().mean()  # v − x² with x = 0 on "left"
    assert float(terms["pde"]) == pytest.approx(float(pde), rel=1e-12) and float(pde) > 0.1
    assert float(terms["dirichlet_left"]) == pytest.approx(float(dirichlet), rel=1e-12) and float(dirichlet) > 0.01
    assert float(loss) == pytest.approx(float(pde + 3 * dirichlet), rel=1e-12)


def test_neumann_and_robin_read_the_outward_normal_derivative():
    problem = square([Neumann(0.5, on="right", components=["u"]), Neumann(lambda x: x[:, 1:], on="bottom"),
                      Robin(2.0, 3.0, 1.0, on="top", components=[1])])
    w, b = (p.detach() for p in affine(2, 2)[0].parameters())
    model = affine(2, 2)
    batch, loss, terms = terms_of(problem, model)
    # right face: n = (1, 0): ∂u/∂n = w₀₀; bottom: n = (0, −1), g = y = 0: ∂u_k/∂n = −w_k1
    assert float(terms["neumann_right"]) == pytest.approx(float((w[0, 0] - 0.5) ** 2), rel=1e-12)
    assert float(terms["neumann_bottom"]) == pytest.approx(float((w[:, 1] ** 2).mean()), rel=1e-12)
    xt = batch["robin_top"]
    robin = (2 * (xt @ w[1] + b[1]) + 3 * w[1, 1] - 1).square().mean()  # n = (0, 1) on top
    assert float(terms["robin_top"]) == pytest.approx(float(robin), rel=1e-12) and float(robin) > 0.01


def test_periodic_initial_and_observation_terms():
    domain = SpaceTime(Interval(0, 2), 0, 1)
    seen = torch.tensor([[0.5, 0.5], [1.5, 0.25]], dtype=F64)
    conditions = [Periodic("x", derivative=True), Initial(lambda x: torch.sin(x[:, :1])),
                  Initial(0.25, derivative=1), Observations(seen, torch.tensor([[1.0], [2.0]], dtype=F64))]
    problem = Problem(config(), domain, inputs=["x", "t"], pde=lambda f: f["u_t"], needs=["u_t"],
                      conditions=conditions)
    model = affine(2, 1, seed=3)
    w, b = model[0].weight.detach()[0], model[0].bias.detach()[0]
    batch, loss, terms = terms_of(problem, model)
    # u(0, t) − u(2, t) = −2 w_x (the derivative difference is 0): mean over [value, derivative] columns
    assert float(terms["periodic_axis_x"]) == pytest.approx(float((2 * w[0]) ** 2 / 2), rel=1e-12)
    x0 = batch["initial"]
    assert (x0[:, 1] == 0).all()
    expected = float((x0 @ w + b - torch.sin(x0[:, 0])).square().mean())
    assert float(terms["initial"]) == pytest.approx(expected, rel=1e-12)
    assert float(terms["initial_rate"]) == pytest.approx(float((w[1] - 0.25) ** 2), rel=1e-12)
    data = ((seen @ w + b) - torch.tensor([1.0, 2.0], dtype=F64)).square().mean()
    assert float(terms["data"]) == pytest.approx(float(data), rel=1e-12)
    assert float(terms["pde"]) == pytest.approx(float(w[1] ** 2), rel=1e-12)


@pytest.mark.parametrize("method", ["reverse", "analytic-forward", "analytic-backward", "multicomplex"])
def test_second_derivative_terms_of_a_sum_of_squares(method):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 3), Quadratic(), nn.Linear(3, 1)).double()  # u = Σ_j c_j (a_j·x + β_j)²/2
    a, c = model[0].weight.detach(), model[2].weight.detach()[0]
    problem = Problem(config(derivative_method=method), Box([0, 0], [1, 1]), pde=lambda f: f["lap(u)"] - 1.0,
                      needs=["lap(u)"], conditions=[])
    _, loss, terms = terms_of(problem, model)
    laplacian = float((c * (a * a).sum(1)).sum())  # Δu = Σ_j c_j |a_j|²
    assert float(terms["pde"]) == pytest.approx((laplacian - 1) ** 2, rel=1e-10) and float(loss) > 1e-3


def test_bad_conditions_and_residuals_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown boundary part 'outflow'; known parts: \['boundary', 'left'"):
        square([Dirichlet(0.0, on="outflow")])
    with pytest.raises(ValueError, match=r"component 2 is out of range; the problem has outputs \['u', 'v'\]"):
        square([Dirichlet(0.0, components=[2])])
    with pytest.raises(ValueError, match="component 'p' is out of range"):
        square([Dirichlet(0.0, components=["p"])])
    with pytest.raises(ValueError, match="two loss terms named 'dirichlet_boundary'"):
        square([Dirichlet(0.0), Dirichlet(1.0)])
    with pytest.raises(ValueError, match="expected a weight ≥ 0"):
        Dirichlet(0.0, weight=-1)
    with pytest.raises(ValueError, match="axis 'z' is not an input"):
        square([Periodic("z")])
    with pytest.raises(ValueError, match=r"expected points \(N, 2\) and values \(N, 2\)"):
        square([Observations(torch.zeros(3, 2), torch.zeros(3, 1))])
    with pytest.raises(ValueError, match="expected derivative 0"):
        Initial(0.0, derivative=2)
    with pytest.raises(TypeError, match="conditions must be Condition objects"):
        square(["left"])
    model = affine(2, 2)
    broadcast = square([], pde=lambda f: f["u"][:, 0] - torch.sin(f["x"]))  # (N,) − (N, 1) → (N, N)
    with pytest.raises(ValueError, match=r"must have shape \(N, ·\) = \(64, k\).*got \(64, 64\) — an \(N,\) column"):
        terms_of(broadcast, model)
    with pytest.raises(ValueError, match=r"got \(3,\)"):
        terms_of(square([], pde=lambda f: f["u"][:3, 0]), model)
    bad_value = square([Dirichlet(lambda x: x, components=["u"])])
    with pytest.raises(ValueError, match=r"the value function must return \(N, 1\)"):
        bad_value.sample(torch.Generator())
    assert math.isfinite(float(terms_of(square([]), model)[1]))
