"""hessQuik's Taylor test for every layer type and both analytic modes.

With v a random direction and h = 2⁻ᵏ: E1(h) = |f(x+hv) − f(x) − h ∇f·v| must fall as O(h²) and
E2(h) = |E1-residual − ½h² vᵀ∇²f v| as O(h³). The rates are fitted log-log over k = 4..10.
"""
import math

import pytest
import torch
from torch import nn

import hodphys as hp

LAYERS = {
    "linear+tanh": lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh()),
    "linear+sigmoid": lambda: nn.Sequential(nn.Linear(3, 4), nn.Sigmoid()),
    "linear+softplus": lambda: nn.Sequential(nn.Linear(3, 4), nn.Softplus()),
    "linear+logcosh": lambda: nn.Sequential(nn.Linear(3, 4), hp.nn.LogCosh()),
    "linear+quadratic": lambda: nn.Sequential(nn.Linear(3, 4), hp.nn.Quadratic()),
    "residual": lambda: hp.nn.ResidualBlock(3, nn.Tanh(), step=0.5),
    "icnn-first": lambda: hp.nn.ICNNLayer(3, None, 4),
    "icnn": lambda: hp.nn.ICNNLayer(2, 1, 4),
    "quadratic": lambda: hp.nn.QuadraticLayer(3, 2),
    "quadratic-icnn": lambda: hp.nn.QuadraticICNNLayer(2, 1, 2),
}


def _rate(errors: list[float], hs: list[float]) -> float:
    """Least-squares slope of log E against log h."""
    xs, ys = [math.log(h) for h in hs], [math.log(max(e, 1e-300)) for e in errors]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)


@pytest.mark.parametrize("method", ["analytic-forward", "analytic-backward"])
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_taylor_errors_fall_as_h2_and_h3(layer, method):
    torch.manual_seed(0)
    model = nn.Sequential(LAYERS[layer]()).double()
    d = model[0].in_features if hasattr(model[0], "in_features") else model[0][0].in_features
    x, v = torch.randn(5, d, dtype=torch.float64), torch.randn(5, d, dtype=torch.float64)
    out = hp.derivatives(model, x, jacobian=True, hessian=True, laplacian=False, method=method)
    w = torch.randn(out.value.shape[-1], dtype=torch.float64)
    f = lambda y: (model(y) @ w).detach()  # noqa: E731
    slope = torch.einsum("m,nmd,nd->n", w, out.jacobian, v)
    curvature = torch.einsum("m,nmde,nd,ne->n", w, out.hessian, v, v)
    hs = [2.0 ** -k for k in range(4, 11)]
    e1, e2 = [], []
    slope, curvature = slope.detach(), curvature.detach()
    for h in hs:
        residual = f(x + h * v) - f(x) - h * slope
        e1.append(float(residual.norm()))
        e2.append(float((residual - 0.5 * h * h * curvature).norm()))
    assert _rate(e1, hs) > 1.9, e1
    if max(e2) > 1e-12 * (1 + float(f(x).norm())):  # a layer quadratic in x has E2 at rounding level
        assert _rate(e2, hs) > 2.8, e2
    else:
        assert layer in ("linear+quadratic", "quadratic", "quadratic-icnn")
