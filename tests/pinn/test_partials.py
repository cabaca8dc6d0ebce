"""hp.partials against torch.func (float64 ≤ 1e-10, float32 ≤ 1e-4) in every method; gradients
through it; the cost-based choice; bad specs."""
import pytest
import torch
from torch import nn
from torch.func import hessian, jacrev, vmap

import hodphys as hp
from hodphys.partials import choose_method, parse

METHODS = ["auto", "reverse", "jet", "autograd", "analytic-forward", "analytic-backward", "multicomplex"]
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4}
SPEC = ["u", "v", "u_t", "v_x", "u_xx", "u_xt", "v_tt", "u_yy", "lap(u)", "lap(v)"]


def net(dtype, d=3, m=2, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 12), nn.Tanh(), nn.Linear(12, 12), nn.Softplus(), nn.Linear(12, m)).to(dtype)


def reference(model, x):
    f = lambda z: model(z[None])[0]  # noqa: E731
    return vmap(jacrev(f))(x), vmap(hessian(f))(x)


def expected(model, x):
    """SPEC from torch.func with inputs (x, y, t) and outputs (u, v): Δ skips t."""
    value = model(x)
    j, h = reference(model, x)
    return {"u": value[:, 0], "v": value[:, 1], "u_t": j[:, 0, 2], "v_x": j[:, 1, 0], "u_xx": h[:, 0, 0, 0],
            "u_xt": h[:, 0, 0, 2], "v_tt": h[:, 1, 2, 2], "u_yy": h[:, 0, 1, 1],
            "lap(u)": h[:, 0, 0, 0] + h[:, 0, 1, 1], "lap(v)": h[:, 1, 0, 0] + h[:, 1, 1, 1]}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("method", METHODS)
def test_partials_match_torch_func(method, dtype):
    model, x = net(dtype), torch.rand(17, 3, dtype=dtype)
    got = hp.partials(model, x, SPEC, inputs=["x", "y", "t"], outputs=["u", "v"], method=method)
    want = expected(model, x)
    assert list(got) == SPEC
    for name in SPEC:
        assert got[name].shape == (17, 1)
        scale = want[name].abs().max().clamp(min=1)
        assert float((got[name][:, 0] - want[name]).detach().abs().max() / scale) <= TOLERANCE[dtype], name


@pytest.mark.parametrize("method", METHODS)
def test_a_loss_on_partials_backpropagates_like_torch_func(method):
    model, x = net(torch.float64), torch.rand(9, 3, dtype=torch.float64)
    got = hp.partials(model, x, ["u_t", "lap(v)"], inputs=["x", "y", "t"], outputs=["u", "v"], method=method)
    params = list(model.parameters())
    grad = lambda loss: torch.autograd.grad(loss, params, materialize_grads=True)  # noqa: E731
    mine = grad((got["u_t"] * got["lap(v)"]).sum())
    want = expected(model, x)
    for a, b in zip(mine, grad((want["u_t"] * want["lap(v)"]).sum())):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
    assert any(float(a.abs().max()) > 1e-3 for a in mine)


def test_default_names_and_no_grad():
    model, x = net(torch.float64, d=2, m=1), torch.rand(5, 2, dtype=torch.float64)
    with torch.no_grad():
        got = hp.partials(model, x, ["u_x", "u_yy", "lap(u)"])
    _, h = reference(model, x)
    assert not got["u_x"].requires_grad
    assert torch.allclose(got["lap(u)"][:, 0], h[:, 0, 0, 0] + h[:, 0, 1, 1], rtol=1e-10)
    assert parse("c", ["u_x1x2"], ["x1", "x2", "x12"], ["u"]).terms["u_x1x2"] == ("second", 0, 0, 1)


def test_auto_weighs_reverse_mode():
    """First derivatives of one output (Burgers): reverse mode; Laplacians of 8 outputs: an engine."""
    burgers = net(torch.float32, d=2, m=1)
    plan = parse("c", ["u", "u_t", "u_x", "u_xx"], ["x", "t"], ["u"])
    chosen, costs = choose_method(burgers, torch.rand(2540, 2), plan)
    assert chosen == "reverse" and set(costs) >= {"reverse", "analytic-forward", "autograd"}
    poisson = nn.Sequential(nn.Linear(2, 100), nn.Tanh(), *[nn.Linear(100, 100), nn.Tanh()] * 4, nn.Linear(100, 8))
    plan = parse("c", [f"lap(u{k})" for k in range(8)], ["x", "y"], [f"u{k}" for k in range(8)])
    assert choose_method(poisson, torch.rand(2048, 2), plan)[0] != "reverse"


def test_bad_specs_are_clear_errors():
    model, x = net(torch.float64, d=2, m=1), torch.rand(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"'w_x' names no output; expected one of \['u'\]"):
        hp.partials(model, x, ["w_x"])
    with pytest.raises(ValueError, match=r"'u_z': 'z' names no input; inputs are \['x', 'y'\]"):
        hp.partials(model, x, ["u_z"])
    with pytest.raises(ValueError, match="order 3; hp.partials computes orders ≤ 2"):
        hp.partials(model, x, ["u_xxy"])
    with pytest.raises(ValueError, match="expected lap\\(<output>\\)"):
        hp.partials(model, x, ["lap(u_x)"])
    with pytest.raises(ValueError, match="expected a non-empty list of names"):
        hp.partials(model, x, "u_x")
    with pytest.raises(ValueError, match="expected 2 input names and 1 output names"):
        hp.partials(model, x, ["u_x"], inputs=["x"])
    with pytest.raises(ValueError, match="unknown method='fast'"):
        hp.partials(model, x, ["u_x"], method="fast")
    with pytest.raises(ValueError, match=r"expected x of shape \(N, d\)"):
        hp.partials(model, x[None], ["u_x"])
