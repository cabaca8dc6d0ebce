"""Both analytic modes vs torch.func (float64 ≤ 1e-10, float32 ≤ 1e-4) and vs multicomplex.

Every layer type (Linear, every activation, residual, ICNN, quadratic, quadratic-ICNN, nesting)
× every quantity × mode, on several seeds and batch shapes, including a factored first layer.
"""
import copy

import pytest
import torch

import hodphys as hp
from tests.analytic.nets import CASES, build
from tests.helpers import TOLERANCE, assert_close_rel

MODES = ["analytic-forward", "analytic-backward"]
SEEDS = [0, 1]


def _vectors(d, batch, n, seed):
    g = torch.Generator().manual_seed(50 + seed)
    return [torch.randn(*batch, d, generator=g, dtype=torch.float64) for _ in range(n)]


def _run(quantity, model, x, args, method, dtype, device="cpu"):
    low = copy.deepcopy(model).to(device, dtype)
    cast = [a.to(device, dtype) if torch.is_tensor(a) else [v.to(device, dtype) for v in a] for a in args]
    return getattr(hp, quantity)(low, x.to(device, dtype), *cast, method=method)


def _check(quantity, model, x, args, method, dtype, device="cpu"):
    """The engine in dtype on device against torch.func (method="autograd") in float64 on the CPU."""
    reference = getattr(hp, quantity)(model, x, *args, method="autograd")
    ours = _run(quantity, model, x, args, method, dtype, device)
    assert ours.dtype == dtype and ours.shape == reference.shape and ours.device.type == device
    assert_close_rel(ours.cpu(), reference, TOLERANCE[dtype])


def _args(quantity, d, m, batch, seed):
    vs = _vectors(d, batch, 2, seed)
    w = torch.randn(m, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return {"jacobian": [], "hessian": [], "laplacian": [], "hvp": [vs[0]],
            "directional_grad": [vs[:1], w]}[quantity]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", MODES)
@pytest.mark.parametrize("quantity", ["jacobian", "hessian", "laplacian", "hvp", "directional_grad"])
@pytest.mark.parametrize("kind, d, m, batch", CASES)
def test_every_layer_quantity_and_mode_matches_torch_func(kind, d, m, batch, quantity, method, seed, dtype, device):
    model = build(kind, d, m, seed)
    x = _vectors(d, batch, 1, seed + 10)[0]
    _check(quantity, model, x, _args(quantity, d, m, batch, seed), method, dtype, device)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("kind, d, m, batch", CASES)
def test_directional_forward_and_third_order_backward(kind, d, m, batch, n, dtype, device):
    """D^n f[v₁..vₙ] forward for n ≤ 3 (σ‴ at n = 3), and wᵀ∇ⁿ⁺¹f[v₁..vₙ, ·] backward for n ≤ 2."""
    model = build(kind, d, m)
    x, *vs = _vectors(d, batch, 1 + n, 3)
    _check("directional", model, x, [vs], "analytic-forward", dtype, device)
    if n <= 2:
        w = torch.randn(*batch, m, dtype=torch.float64)
        _check("directional_grad", model, x, [vs, w], "analytic-backward", dtype, device)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind, d, m, batch", CASES)
def test_third_directional_derivative_with_a_repeated_direction(kind, d, m, batch, seed):
    """D³f[v, v, w] and D³f[v, v, v] (repeated directions share pairs) against torch.func and multicomplex."""
    model = build(kind, d, m, seed)
    x, v, w = _vectors(d, batch, 3, seed + 20)
    for vs in ([v, v, w], [v, v, v]):
        ours = hp.directional(model, x, vs, method="analytic-forward")
        assert_close_rel(ours, hp.directional(model, x, vs, method="autograd"), 1e-10)
        assert_close_rel(ours, hp.directional(model, x, vs, method="multicomplex"), 1e-10)


@pytest.mark.parametrize("method", MODES)
@pytest.mark.parametrize("kind, d, m, batch", CASES)
def test_matches_the_multicomplex_engine(kind, d, m, batch, method):
    model = build(kind, d, m, seed=2)
    x = _vectors(d, batch, 1, 4)[0]
    for quantity in ("jacobian", "hessian", "laplacian"):
        assert_close_rel(getattr(hp, quantity)(model, x, method=method),
                         getattr(hp, quantity)(model, x, method="multicomplex"), 1e-10)


@pytest.mark.parametrize("method", MODES)
def test_derivatives_in_one_pass(method):
    model = build("wide", 7, 2)
    x = _vectors(7, (2, 3), 1, 5)[0]
    for flags in ({"hessian": True}, {"hessian": False}, {"jacobian": False, "laplacian": False}, {"laplacian": False},
                  {"jacobian": True, "laplacian": True, "hessian": True}):
        ours = hp.derivatives(model, x, method=method, **flags)
        ref = hp.derivatives(model, x, method="autograd", **flags)
        for name in ours._fields:
            if getattr(ref, name) is None:
                assert getattr(ours, name) is None
            else:
                assert_close_rel(getattr(ours, name), getattr(ref, name), 1e-10)


@pytest.mark.parametrize("kind", ["mixed", "resnet-square"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_dim_derivative_and_divergence(k, kind):
    model = build("mixed", 3, 3) if kind == "mixed" else hp.nn.ResNet(5, 8, 2, 5).double()
    d = 3 if kind == "mixed" else 5
    x = _vectors(d, (4,), 1, 6)[0]
    assert_close_rel(hp.dim_derivative(model, x, k=k, method="analytic-forward"),
                     hp.dim_derivative(model, x, k=k, method="autograd"), 1e-10)
    for method in MODES:
        assert_close_rel(hp.divergence(model, x, method=method), hp.divergence(model, x, method="autograd"), 1e-10)


@pytest.mark.parametrize("method", MODES)
def test_affine_network_has_zero_curvature(method):
    model = hp.nn.MLP([3, 2]).double()
    x, v = _vectors(3, (4,), 2, 7)
    assert torch.equal(hp.hessian(model, x, method=method), torch.zeros(4, 2, 3, 3, dtype=torch.float64))
    assert torch.equal(hp.laplacian(model, x, method=method), torch.zeros(4, 2, dtype=torch.float64))
    assert_close_rel(hp.jacobian(model, x, method=method), model[0].weight.expand(4, 2, 3), 1e-14)
    assert torch.equal(hp.directional_grad(model, x, [v, v], torch.ones(2, dtype=torch.float64),
                                           method="analytic-backward"), torch.zeros(4, 3, dtype=torch.float64))
    assert torch.equal(hp.directional(model, x, [v, v], method="analytic-forward"),
                       torch.zeros(4, 2, dtype=torch.float64))


def test_one_activation_instance_reused_between_layers():
    act = torch.nn.Tanh()
    model = torch.nn.Sequential(torch.nn.Linear(2, 5), act, torch.nn.Linear(5, 5), act, torch.nn.Linear(5, 1)).double()
    x = _vectors(2, (3,), 1, 8)[0]
    for method in MODES + ["multicomplex"]:
        assert_close_rel(hp.hessian(model, x, method=method), hp.hessian(model, x, method="autograd"), 1e-10)


@pytest.mark.cuda
@pytest.mark.parametrize("method", MODES)
def test_cuda_matches_cpu(method):
    model = build("wide", 7, 2)
    x, v = _vectors(7, (5,), 2, 9)
    for quantity, args in (("hessian", []), ("laplacian", []), ("jacobian", []), ("hvp", [v])):
        cpu = getattr(hp, quantity)(model, x, *args, method=method)
        gpu = getattr(hp, quantity)(model.cuda(), x.cuda(), *[a.cuda() for a in args], method=method)
        model.cpu()
        assert gpu.device.type == "cuda"
        assert_close_rel(gpu.cpu(), cpu, 1e-10)


@pytest.mark.parametrize("outer_work", [0, 10 ** 9], ids=["upper-pairs", "all-pairs"])
@pytest.mark.parametrize("kind, d, m, batch", CASES)
def test_forward_hessian_with_upper_or_all_pairs(kind, d, m, batch, outer_work, monkeypatch):
    """Both layouts of the forward Hessian's second rows (chosen by N·p²) give torch.func's Hessian."""
    monkeypatch.setattr("hodphys.engines.analytic.jet.OUTER_WORK", outer_work)
    model = build(kind, d, m, seed=3)
    x = _vectors(d, batch, 1, 8)[0]
    reference = hp.hessian(model, x, method="autograd")
    assert_close_rel(hp.hessian(model, x, method="analytic-forward"), reference, 1e-10)
    both = hp.derivatives(model, x, method="analytic-forward", hessian=True, laplacian=True)
    assert_close_rel(both.hessian, reference, 1e-10)
    assert_close_rel(both.laplacian, reference.diagonal(dim1=-2, dim2=-1).sum(-1), 1e-10)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("lean", [1, 10 ** 9], ids=["lean-all-pairs", "all-pair-products"])
@pytest.mark.parametrize("grad", [False, True], ids=["no-grad", "grad"])
@pytest.mark.parametrize("kind, d, m, batch", CASES)
def test_all_pairs_hessian_in_place_with_and_without_products(kind, d, m, batch, grad, lean, dtype, monkeypatch):
    """All-pairs rows under no_grad are updated in place, with or without forming the P² products
    (LEAN_OUTER); with autograd recording, out of place: every path gives torch.func's Hessian."""
    monkeypatch.setattr("hodphys.engines.analytic.jet.OUTER_WORK", 10 ** 9)
    monkeypatch.setattr("hodphys.engines.analytic.jet.LEAN_OUTER", lean)
    model = build(kind, d, m, seed=5).to(dtype)
    x = _vectors(d, batch, 1, 11)[0].to(dtype)
    reference = hp.hessian(model, x, method="autograd")
    with torch.set_grad_enabled(grad):
        ours = hp.hessian(model, x, method="analytic-forward")
    assert_close_rel(ours, reference, TOLERANCE[dtype])


@pytest.mark.parametrize("small_bytes, memo_tangents", [(0, 10 ** 9), (1 << 30, 10 ** 9), (0, 1)],
                         ids=["big-batch-path", "small-batch-path", "kept-for-many-tangents"])
@pytest.mark.parametrize("kind, d, m, batch", CASES)
def test_backward_mode_with_and_without_kept_derivatives_and_stacked_sites(kind, d, m, batch, small_bytes,
                                                                           memo_tangents, monkeypatch):
    """The size bounds (σ derivatives kept for the adjoint, curvature sites contracted together) change
    how the backward mode computes, never what: both sides of them give torch.func's values."""
    monkeypatch.setattr("hodphys.engines.analytic.jet.MEMO_BYTES", small_bytes)
    monkeypatch.setattr("hodphys.engines.analytic.jet.MEMO_TANGENTS", memo_tangents)
    monkeypatch.setattr("hodphys.engines.analytic.sweep.STACK_BYTES", small_bytes)
    model = build(kind, d, m, seed=4)
    x, v = _vectors(d, batch, 2, 9)
    w = torch.randn(*batch, m, dtype=torch.float64)
    for quantity, args in (("hessian", []), ("laplacian", []), ("hvp", [v]), ("directional_grad", [[v, v], w])):
        assert_close_rel(getattr(hp, quantity)(model, x, *args, method="analytic-backward"),
                         getattr(hp, quantity)(model, x, *args, method="autograd"), 1e-10)


def test_which_saved_jets_keep_their_sigma_derivatives():
    """Kept where cheap to hold: small values (not with one tangent row, which two kept rows would
    double) and jets with many tangent rows; a big value with few tangents is recomputed instead."""
    from hodphys.engines.analytic.jet import MEMO_BYTES, MEMO_TANGENTS, keeps_derivatives

    assert keeps_derivatives(0, MEMO_BYTES) and keeps_derivatives(2, MEMO_BYTES)
    assert not keeps_derivatives(1, MEMO_BYTES)
    assert not keeps_derivatives(MEMO_TANGENTS - 1, MEMO_BYTES + 1)
    assert keeps_derivatives(MEMO_TANGENTS, 10 * MEMO_BYTES)


def test_forward_jacobian_of_a_single_linear_layer_with_d1_is_not_a_view_of_its_weight():
    """With no layer after the opening one the tangents are still the seed's view of W₁ᵀ: the
    result must be a copy (J.zero_() once zeroed the weight)."""
    lin = torch.nn.Linear(1, 3).double()
    x = torch.randn(1, 1, dtype=torch.float64)
    before = lin.weight.detach().clone()
    with torch.no_grad():
        jacobian = hp.jacobian(lin, x, method="analytic-forward")
        jacobian.zero_()
    assert torch.equal(lin.weight.detach(), before)
