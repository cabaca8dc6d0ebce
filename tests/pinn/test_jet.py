"""hp.partials' forward jet (method="jet"): every layer type and several partial sets against torch.func
(float64 ≤ 1e-10, float32 ≤ 1e-4), declared combinations against their parts, traced by torch.compile
without graph breaks and with the eager gradients, and the clear errors."""
import pytest
import torch
from torch import nn
from torch.func import hessian, jacrev, vmap

import hodphys as hp
from hodphys.nn import ICNN, ResNet
from hodphys.nn.activations import ACTIVATIONS
from hodphys.partials import PreparedPartials, jet_supported

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4}
INPUTS = ["x", "y", "t"]
SPECS = [["u", "u_x"], ["u_t", "u_xx"], ["u_xy", "u_tt", "lap(u)"], ["u", "u_y", "u_t", "u_xt", "lap(u)"]]


def mlp(activation: nn.Module, m: int = 1, d: int = 3) -> nn.Module:
    return nn.Sequential(nn.Linear(d, 10), activation, nn.Linear(10, 9), activation, nn.Linear(9, m))


MODELS = {**{name: (lambda cls=cls: mlp(cls())) for name, cls in ACTIVATIONS.items()},
          "resnet": lambda: ResNet(3, 8, 2, 1, step=0.5), "icnn": lambda: ICNN(3, [6, 5], rank=2),
          "affine": lambda: nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))}


def expected(model: nn.Module, x: torch.Tensor, name: str, k: int = 0) -> torch.Tensor:
    """One named partial of output k from torch.func (inputs x, y, t: Δ skips t)."""
    f = lambda z: model(z[None])[0, k]  # noqa: E731
    j, h = vmap(jacrev(f))(x), vmap(hessian(f))(x)
    at = {c: i for i, c in enumerate("xyt")}
    if name == "lap(u)":
        return h[:, 0, 0] + h[:, 1, 1]
    index = [at[c] for c in name[2:]]
    return model(x)[:, k] if not index else j[:, index[0]] if len(index) == 1 else h[:, index[0], index[1]]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("layers", sorted(MODELS))
def test_jet_partials_match_torch_func_for_every_layer_type(layers, dtype):
    torch.manual_seed(0)
    model, x = MODELS[layers]().to(dtype), torch.rand(13, 3, dtype=dtype)
    for spec in SPECS:
        got = hp.partials(model, x, spec, inputs=INPUTS, method="jet")
        assert list(got) == spec
        for name in spec:
            want = expected(model, x, name)
            scale = want.abs().max().clamp(min=1)
            assert got[name].shape == (13, 1)
            assert float((got[name][:, 0] - want).detach().abs().max() / scale) <= TOLERANCE[dtype], (spec, name)


def test_jet_partials_of_several_outputs():
    torch.manual_seed(1)
    model, x = mlp(nn.Tanh(), m=2).double(), torch.rand(9, 3, dtype=torch.float64)
    got = hp.partials(model, x, ["u0_x", "u1_x", "u1_yt", "lap(u0)"], inputs=INPUTS, method="jet")
    for name, k, part in (("u0_x", 0, "u_x"), ("u1_x", 1, "u_x"), ("u1_yt", 1, "u_yt"), ("lap(u0)", 0, "lap(u)")):
        assert torch.allclose(got[name][:, 0], expected(model, x, part, k), rtol=1e-10, atol=1e-12), name


@pytest.mark.parametrize("method", ["jet", "reverse", "analytic-forward", "auto"])
def test_a_combination_equals_its_parts_and_trains_its_coefficient(method):
    torch.manual_seed(2)
    model, x = mlp(nn.Tanh()).double(), torch.rand(11, 3, dtype=torch.float64)
    kappa = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    combos = {"heat": {"u_t": 1.0, "lap(u)": lambda: -kappa}, "mixed": {"u_x": 2.0, "u_xy": -0.5, "u_tt": kappa}}
    got = hp.partials(model, x, ["u"], inputs=INPUTS, method=method, combos=combos)
    parts = {n: expected(model, x, n) for n in ("u_t", "lap(u)", "u_x", "u_xy", "u_tt")}
    heat = parts["u_t"] - kappa * parts["lap(u)"]
    mixed = 2 * parts["u_x"] - 0.5 * parts["u_xy"] + kappa * parts["u_tt"]
    assert torch.allclose(got["heat"][:, 0], heat, rtol=1e-10, atol=1e-12)
    assert torch.allclose(got["mixed"][:, 0], mixed, rtol=1e-10, atol=1e-12)
    grad = torch.autograd.grad((got["heat"] * got["mixed"]).sum(), kappa)[0]
    want = torch.autograd.grad((heat * mixed).sum(), kappa)[0]
    assert torch.allclose(grad, want, rtol=1e-9) and float(grad.abs()) > 1e-6


def test_auto_weighs_the_jet_and_takes_it_under_compile():
    from hodphys.partials import choose_method, parse

    model, x = mlp(nn.Tanh()), torch.rand(500, 3)
    plan = parse("test", ["u", "u_x"], INPUTS, ["u"], {"c": {"u_t": 1.0, "u_xx": -0.01}})
    _, costs = choose_method(model, x, plan)
    assert {"jet", "reverse", "analytic-forward"} <= set(costs) and all(c > 0 for c in costs.values())
    traced = torch.compile(lambda z: choose_method(model, z, plan)[0] == "jet" and z.sum(), backend="eager")
    assert bool(traced(x))


def loss_of(prepared: PreparedPartials, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    f = prepared(model, x)
    return (f["c"] + f["u"] * f["u_x"]).square().mean()


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_the_prepared_jet_traces_as_one_graph(activation):
    model, x = mlp(ACTIVATIONS[activation]()), torch.rand(20, 3)
    prepared = PreparedPartials(["u", "u_x"], INPUTS, ["u"], combos={"c": {"u_t": 1.0, "u_xx": -0.01}})
    loss_of(prepared, model, x)  # an eager call first, as the trainer's warm-up: it compiles the layer rules
    explained = torch._dynamo.explain(loss_of)(prepared, model, x)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons
    # no guard on the weakly keyed cache of layer rules (entries of other, collected models break it)
    assert not any("compile_rules" in str(guard.name) for guard in explained.out_guards)


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_compiled_gradients_equal_the_eager_ones(backend):
    """aot_eager traces forward and backward as inductor does (where a double backward is refused),
    without generating code: seconds, not a minute."""
    torch.manual_seed(3)
    model, x = mlp(nn.Tanh()), torch.rand(64, 3)
    prepared = PreparedPartials(["u", "u_x"], INPUTS, ["u"], combos={"c": {"u_t": 1.0, "u_xx": -0.01}})
    params = list(model.parameters())
    eager = torch.autograd.grad(loss_of(prepared, model, x), params)
    compiled = torch.compile(loss_of, backend=backend)
    for points in (x, torch.rand(64, 3)):  # fresh points of the same count: no second compilation
        got = torch.autograd.grad(compiled(prepared, model, points), params)
        want = torch.autograd.grad(loss_of(prepared, model, points), params)
        for a, b in zip(got, want):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)
    assert not all(torch.equal(a, b) for a, b in zip(eager, want))  # the second point set differs


def test_jet_errors_name_what_is_wrong():
    model, x = mlp(nn.Tanh()), torch.rand(5, 3)
    unsupported = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1))
    assert not jet_supported(unsupported) and jet_supported(model)
    with pytest.raises(NotImplementedError, match="no analytic rule for LayerNorm"):
        hp.partials(unsupported, x, ["u_x"], method="jet")
    for combos, match in [({"c": {"u": 1.0}}, r"combos\['c'\]: expected first or second partials"),
                          ({"c": {}}, r"combos\['c'\]: expected a dict"),
                          ({"u_x": {"u_t": 1.0}}, r"combos \['u_x'\] are also named in spec")]:
        with pytest.raises(ValueError, match=match):
            hp.partials(model, x, ["u_x"], inputs=INPUTS, method="jet", combos=combos)
    two = mlp(nn.Tanh(), m=2)
    with pytest.raises(ValueError, match="of one output"):
        hp.partials(two, x, ["u0"], inputs=INPUTS, combos={"c": {"u0_x": 1.0, "u1_x": 1.0}})
    with pytest.raises(ValueError, match="hp.partials.*'u_q'.*'q' names no input"):
        hp.partials(model, x, ["u_q"], inputs=INPUTS, method="jet")


def test_a_problems_combination_binds_its_coefficient_by_name():
    from hodphys.pinn import PinnConfig, Problem
    from hodphys.pinn.geometry import Interval, SpaceTime

    def problem(combos):
        return Problem(PinnConfig(widths=[8], dtype="float64"), SpaceTime(Interval(0, 1), 0, 1), inputs=["x", "t"],
                       pde=lambda f: f["r"], combos=combos, coefficients={"kappa": 0.25}, conditions=[])

    good = problem({"r": {"u_t": 1.0, "u_xx": "-kappa"}})
    model, x = good.build_model(), torch.rand(7, 2, dtype=torch.float64)
    parts = hp.partials(good.network(model), x, ["u_t", "u_xx"], inputs=["x", "t"], method="reverse")
    want = parts["u_t"] - model.coefficients["kappa"] * parts["u_xx"]
    assert torch.allclose(good.checked_residual(model, x), want, rtol=1e-10, atol=1e-12)
    bad = problem({"r": {"u_t": 1.0, "u_xx": "-nu"}})
    message = r"combos\['r'\] names coefficient '-nu'; the problem's coefficients are \['kappa'\]"
    with pytest.raises(ValueError, match=message):
        bad.checked_residual(bad.build_model(), x)
