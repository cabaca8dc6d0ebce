"""The public API against ``vmap(torch.func …)`` called directly, never through hodphys's request code.

Every engine is elsewhere compared with ``method="autograd"``, which shares the input handling of
``hodphys/request.py`` (flattening the batch, broadcasting v, vs and w against it). A bug there —
pairing sample i's direction with sample j, dropping a leading batch dimension — would pass those
comparisons. Here the reference takes per-sample x, v, w of the caller's own shape, broadcasts them
with torch, and differentiates one sample at a time with torch.func.

Index letters: B leading batch shape, d input dim, m outputs, n order of a directional derivative.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import grad, hessian, jvp, vmap

import hodphys as hp
from tests.helpers import assert_close_rel, mlp

TOL = 1e-10  # float64: exact engines agree with torch.func to round-off


def _single(model):
    """f for one sample: (d,) → (m,)."""
    return lambda x: model(x[None])[0]


def _directional_of(model, n):
    """(x, v1, …, vn) ↦ Dⁿf(x)[v1, …, vn], (m,), by n nested jvps."""
    def derivative(x, *vs):
        g = _single(model)
        for v in vs:
            g = (lambda inner, v: lambda y: jvp(inner, (y,), (v,))[1])(g, v)
        return g(x)
    return derivative


def _per_sample(x, *tensors):
    """x (*B, d) and each tensor broadcast to (*B, ·), all flattened to (N, ·) by torch alone."""
    batch = x.shape[:-1]
    flat = [t.broadcast_to(*batch, t.shape[-1]).reshape(-1, t.shape[-1]) for t in tensors]
    return x.reshape(-1, x.shape[-1]), flat, batch


def reference_hvp(model, x, v):
    """∇²f_k(x)·v per sample: (*B, m, d)."""
    xs, (vs,), batch = _per_sample(x, v)
    out = torch.einsum("nkij,nj->nki", vmap(hessian(_single(model)))(xs), vs)
    return out.reshape(*batch, *out.shape[1:])


def reference_directional(model, x, vs):
    """Dⁿf(x)[v1, …, vn] per sample: (*B, m)."""
    xs, flat, batch = _per_sample(x, *vs)
    out = vmap(_directional_of(model, len(vs)))(xs, *flat)
    return out.reshape(*batch, out.shape[-1])


def reference_directional_grad(model, x, vs, w):
    """∇ₓ(wᵀDⁿf(x)[v1, …, vn]) per sample: (*B, d)."""
    xs, (ws, *flat), batch = _per_sample(x, w, *vs)
    derivative = _directional_of(model, len(vs))
    out = vmap(grad(lambda y, w, *v: w @ derivative(y, *v)))(xs, ws, *flat)
    return out.reshape(*batch, out.shape[-1])


MODEL = mlp(3, [7, 5], 2)


def serving_engines(model, x, quantity, **kwargs):
    """Every registered engine that can serve the request; at least the three exact ones + autograd."""
    choice = hp.explain(model, x, quantity, **kwargs)
    return sorted(choice.costs)


def _randn(*shape, seed):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


# (x's batch shape, v's leading shape, w's leading shape): per-sample, broadcast and shared directions
SHAPES = [((6,), (6,), (6,)), ((2, 3), (2, 3), (2, 3)), ((2, 3), (3,), ()), ((2, 3), (2, 1), (1, 3)),
          ((4,), (), (4,)), ((), (), ())]


@pytest.mark.parametrize("batch, v_lead, w_lead", SHAPES)
def test_hvp_pairs_each_sample_with_its_own_direction(batch, v_lead, w_lead):
    x, v = _randn(*batch, 3, seed=1), _randn(*v_lead, 3, seed=2)
    expected = reference_hvp(MODEL, x, v)
    engines = serving_engines(MODEL, x, "hvp", v=v)
    assert {"autograd", "multicomplex", "analytic-forward", "analytic-backward"} <= set(engines)
    for method in engines:
        assert_close_rel(hp.hvp(MODEL, x, v, method=method), expected, TOL)
    assert_close_rel(hp.hvp(MODEL, x, v), expected, TOL)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("batch, v_lead, w_lead", SHAPES)
def test_directional_pairs_each_sample_with_its_own_directions(batch, v_lead, w_lead, n):
    x = _randn(*batch, 3, seed=1)
    vs = [_randn(*v_lead, 3, seed=10 + i) for i in range(n)]
    expected = reference_directional(MODEL, x, vs)
    engines = serving_engines(MODEL, x, "directional", vs=vs)
    assert {"autograd", "multicomplex"} <= set(engines)
    for method in engines:
        assert_close_rel(hp.directional(MODEL, x, vs, method=method), expected, TOL)


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("batch, v_lead, w_lead", SHAPES)
def test_directional_grad_pairs_each_sample_with_its_own_directions_and_weight(batch, v_lead, w_lead, n):
    x, w = _randn(*batch, 3, seed=1), _randn(*w_lead, 2, seed=3)
    vs = [_randn(*v_lead, 3, seed=10 + i) for i in range(n)]
    expected = reference_directional_grad(MODEL, x, vs, w)
    engines = serving_engines(MODEL, x, "directional_grad", vs=vs, w=w)
    assert {"autograd", "multicomplex"} <= set(engines)
    for method in engines:
        assert_close_rel(hp.directional_grad(MODEL, x, vs, w, method=method), expected, TOL)


def test_mixed_directions_one_per_sample_one_shared():
    """vs[0] per sample, vs[1] shared: each is broadcast on its own."""
    x, w = _randn(5, 3, seed=1), _randn(5, 2, seed=3)
    vs = [_randn(5, 3, seed=4), _randn(3, seed=5)]
    for method in serving_engines(MODEL, x, "directional_grad", vs=vs, w=w):
        assert_close_rel(hp.directional_grad(MODEL, x, vs, w, method=method),
                         reference_directional_grad(MODEL, x, vs, w), TOL)
    for method in serving_engines(MODEL, x, "directional", vs=vs):
        assert_close_rel(hp.directional(MODEL, x, vs, method=method), reference_directional(MODEL, x, vs), TOL)


@st.composite
def batched_call(draw):
    """A model size, x's batch shape B and a shape for v and w that broadcasts against B."""
    d, m = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    def broadcastable():
        kept = draw(st.integers(0, len(batch)))          # a suffix of B, some sizes set to 1
        return tuple(s if draw(st.booleans()) else 1 for s in batch[len(batch) - kept:])
    return d, m, batch, broadcastable(), broadcastable(), draw(st.integers(0, 2**16))


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(batched_call())
def test_property_every_engine_matches_torch_func_on_any_broadcastable_shapes(call):
    d, m, batch, v_lead, w_lead, seed = call
    model = mlp(d, [4], m, seed=seed % 7)
    x, w = _randn(*batch, d, seed=seed), _randn(*w_lead, m, seed=seed + 1)
    v1, v2 = _randn(*v_lead, d, seed=seed + 2), _randn(*batch, d, seed=seed + 3)
    hvp_expected = reference_hvp(model, x, v1)
    directional_expected = reference_directional(model, x, [v1, v2])
    grad_expected = reference_directional_grad(model, x, [v1], w)
    for method in serving_engines(model, x, "hvp", v=v1):
        assert_close_rel(hp.hvp(model, x, v1, method=method), hvp_expected, TOL)
    for method in serving_engines(model, x, "directional", vs=[v1, v2]):
        assert_close_rel(hp.directional(model, x, [v1, v2], method=method), directional_expected, TOL)
    for method in serving_engines(model, x, "directional_grad", vs=[v1], w=w):
        assert_close_rel(hp.directional_grad(model, x, [v1], w, method=method), grad_expected, TOL)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-4), (torch.float64, TOL)])
def test_per_sample_pairing_in_each_dtype_and_on_each_device(dtype, tol, device):
    """The same per-sample calls in float32 and on CUDA, against the float64 CPU reference."""
    x, w = _randn(2, 3, 3, seed=1), _randn(2, 3, 2, seed=3)
    vs = [_randn(2, 3, 3, seed=4), _randn(3, 3, seed=5)]
    expected = {"hvp": reference_hvp(MODEL, x, vs[0]), "directional": reference_directional(MODEL, x, vs),
                "directional_grad": reference_directional_grad(MODEL, x, vs[:1], w)}
    model = mlp(3, [7, 5], 2, dtype=dtype).to(device)
    x, w, vs = x.to(device, dtype), w.to(device, dtype), [v.to(device, dtype) for v in vs]
    calls = {"hvp": (lambda method: hp.hvp(model, x, vs[0], method=method), {"v": vs[0]}),
             "directional": (lambda method: hp.directional(model, x, vs, method=method), {"vs": vs}),
             "directional_grad": (lambda method: hp.directional_grad(model, x, vs[:1], w, method=method),
                                  {"vs": vs[:1], "w": w})}
    for quantity, (call, arguments) in calls.items():
        for method in serving_engines(model, x, quantity, **arguments):
            assert_close_rel(call(method).cpu().double(), expected[quantity], tol)
