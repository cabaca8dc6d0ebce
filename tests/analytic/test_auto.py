"""method="auto" and explain with the analytic engines; what each mode refuses, and why."""
import pytest
import torch
from torch import nn

import hodphys as hp
from hodphys.engines.analytic import replay
from hodphys.engines.analytic import cost as analytic_cost_module
from hodphys.engines.analytic import jet as jet_module
from hodphys.engines.analytic import compile_model
from hodphys.request import make_request
from tests.analytic.nets import build
from tests.helpers import assert_close_rel, mlp


def test_explain_lists_both_analytic_modes_with_costs():
    model, x = build("mlp", 3, 2), torch.randn(4, 3, dtype=torch.float64)
    choice = hp.explain(model, x, "hessian")
    assert {"analytic-forward", "analytic-backward", "multicomplex", "autograd"} <= set(choice.costs)
    text = str(choice)
    assert "analytic-forward" in text and "analytic-backward" in text and "estimated cost" in text


def test_the_cheaper_mode_follows_input_and_output_sizes():
    many_inputs = hp.nn.MLP([32, 16, 16, 1]).double()
    many_outputs = hp.nn.MLP([2, 16, 16, 64]).double()
    x32, x2 = torch.randn(2048, 32, dtype=torch.float64), torch.randn(2048, 2, dtype=torch.float64)
    costs = hp.explain(many_inputs, x32, "hessian").costs
    assert costs["analytic-backward"] < costs["analytic-forward"]
    costs = hp.explain(many_outputs, x2, "hessian").costs
    assert costs["analytic-forward"] < costs["analytic-backward"]
    assert hp.explain(many_inputs, x32, "jacobian").costs["analytic-backward"] < \
        hp.explain(many_inputs, x32, "jacobian").costs["analytic-forward"]


def test_auto_is_exact_and_forcing_a_method_works():
    model, x = build("resnet", 3, 2), torch.randn(5, 3, dtype=torch.float64)
    assert hp.explain(model, x, "laplacian").chosen != "autograd"
    assert_close_rel(hp.laplacian(model, x), hp.laplacian(model, x, method="autograd"), 1e-10)
    for method in ("analytic-forward", "analytic-backward"):
        assert_close_rel(hp.hessian(model, x, method=method), hp.hessian(model, x, method="autograd"), 1e-10)


def test_each_mode_says_what_it_cannot_do():
    model, x = build("mlp", 3, 2), torch.randn(4, 3, dtype=torch.float64)
    v = torch.randn(3, dtype=torch.float64)
    with pytest.raises(NotImplementedError, match="analytic-forward computes directional up to order 3 .*"
                                                  "method='multicomplex' takes any order"):
        hp.directional(model, x, [v, v, v, v], method="analytic-forward")
    with pytest.raises(NotImplementedError, match="analytic-backward computes directional_grad up to order 2"):
        hp.directional_grad(model, x, [v, v, v], torch.ones(2, dtype=torch.float64), method="analytic-backward")
    with pytest.raises(NotImplementedError, match="analytic-forward computes directional_grad up to order 1"):
        hp.directional_grad(model, x, [v, v], torch.ones(2, dtype=torch.float64), method="analytic-forward")
    with pytest.raises(NotImplementedError, match="method='analytic-backward' does not compute directional"):
        hp.directional(model, x, [v], method="analytic-backward")
    with pytest.raises(NotImplementedError, match="analytic-forward computes dim_derivative up to order 3"):
        hp.dim_derivative(build("mixed", 3, 3), x, k=4, method="analytic-forward")
    choice = hp.explain(model, x, "directional", vs=[v, v, v, v])
    assert choice.chosen == "multicomplex" and "analytic-forward" in choice.ruled_out


def test_unknown_modules_are_named():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.0), nn.Tanh()).double()
    with pytest.raises(NotImplementedError, match=r"no analytic rule for Dropout at model\[1\]"):
        compile_model(model)
    with pytest.raises(NotImplementedError, match="needs at least one layer, got an empty nn.Sequential"):
        compile_model(nn.Sequential())
    with pytest.raises(NotImplementedError, match="method='analytic-forward' cannot do this: no analytic rule"):
        hp.laplacian(model, torch.randn(2, 3, dtype=torch.float64), method="analytic-forward")


def test_choices_are_remembered_per_model_until_its_layers_change():
    model, x = build("mlp", 3, 2), torch.randn(4, 3, dtype=torch.float64)
    first = hp.explain(model, x, "laplacian")
    assert hp.explain(model, x, "laplacian") is first
    assert hp.explain(model, x, "hessian") is not first and hp.explain(model, x, "laplacian") is first
    assert hp.explain(model, torch.randn(9, 3, dtype=torch.float64), "laplacian") is not first
    model[1] = nn.Dropout(0.0)
    assert hp.explain(model, x, "laplacian").chosen == "autograd"


@pytest.mark.parametrize("quantity, d", [("hvp", 3), ("directional_grad", 3), ("jacobian", 1), ("divergence", 1)])
def test_cost_model_asks_keeps_derivatives_with_the_tangent_count_the_engine_uses(monkeypatch, quantity, d):
    """The cost model asks keeps_derivatives() about the jets the engine saves: 0 tangents for a
    Jacobian, one per vector for hvp/directional_grad (not p, which once priced a one-vector hvp as
    keeping σ′, σ″ the engine recomputes)."""
    monkeypatch.setattr(replay, "ENABLED", False)
    real = jet_module.keeps_derivatives
    engine_asks: set[int] = set()
    cost_asks: set[int] = set()
    monkeypatch.setattr(jet_module, "keeps_derivatives", lambda p, b: engine_asks.add(p) or real(p, b))
    monkeypatch.setattr(analytic_cost_module, "keeps_derivatives", lambda p, b: cost_asks.add(p) or real(p, b))
    model = mlp(d, [8, 8], d if quantity == "divergence" else 1)
    x = torch.randn(10, d, dtype=torch.float64)
    v = torch.randn(d, dtype=torch.float64)
    args = {"hvp": (v,), "directional_grad": ([v],)}.get(quantity, ())
    getattr(hp, quantity)(model, x, *args, method="analytic-backward")
    vectors = (v,) if args else ()
    request = make_request("review", quantity, model, x, vectors=vectors)
    if quantity == "directional_grad":
        request = hp.api._with_weight(request)
    analytic_cost_module.analytic_cost(request, compile_model(model), "backward")
    assert engine_asks and cost_asks == engine_asks
