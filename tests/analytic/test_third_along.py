"""hp.derivatives(…, third_along=v): ∇³f[v, v, ·] with the value, J, H and Δf from one jet.

The analytic-forward engine against torch.func (float64 ≤ 1e-10, float32 ≤ 1e-4) on every layer
type, seed and batch shape, the autograd engine against the full third-derivative tensor of nested
torch.func transforms, the engines that cannot refuse by name, and plans (eager and compiled).
"""
import copy

import pytest
import torch
from torch import nn

import hodphys as hp
from tests.analytic.nets import CASES, build
from tests.helpers import TOLERANCE, assert_close_rel

FLAGS = [{"hessian": True, "laplacian": False}, {"hessian": True, "laplacian": True}, {"laplacian": True},
         {"jacobian": False, "laplacian": False}]


def _inputs(d, batch, seed, shared):
    g = torch.Generator().manual_seed(70 + seed)
    x = torch.randn(*batch, d, generator=g, dtype=torch.float64)
    v = torch.randn(*(() if shared else batch), d, generator=g, dtype=torch.float64)
    return x, v


def _full_third(model, x, v):
    """Σ_ij ∇³f[i, j, k] v_i v_j per sample from the (m, d, d, d) tensor of nested torch.func."""
    def f(y):
        return model(y.unsqueeze(0))[0]

    third = torch.func.vmap(torch.func.jacfwd(torch.func.jacfwd(torch.func.jacrev(f))))(x.reshape(-1, x.shape[-1]))
    vs = v.expand_as(x).reshape(-1, x.shape[-1])
    return torch.einsum("nmijk,ni,nj->nmk", third, vs, vs).reshape(*x.shape[:-1], -1, x.shape[-1])


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kind, d, m, batch", CASES)
def test_autograd_reference_equals_the_full_third_derivative_tensor(kind, d, m, batch, shared):
    model = build(kind, d, m, seed=1)
    x, v = _inputs(d, batch, 1, shared)
    out = hp.derivatives(model, x, third_along=v, method="autograd")
    assert out.third.shape == (*batch, m, d)
    assert_close_rel(out.third, _full_third(model, x, v), 1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kind, d, m, batch", CASES)
def test_analytic_forward_matches_torch_func(kind, d, m, batch, shared, seed, dtype):
    """Every field of the fused call against torch.func in float64, for every flag combination."""
    model = build(kind, d, m, seed)
    x, v = _inputs(d, batch, seed, shared)
    low = copy.deepcopy(model).to(dtype)
    for flags in FLAGS:
        ours = hp.derivatives(low, x.to(dtype), third_along=v.to(dtype), method="analytic-forward", **flags)
        reference = hp.derivatives(model, x, third_along=v, method="autograd", **flags)
        for name in reference._fields:
            expected = getattr(reference, name)
            assert (getattr(ours, name) is None) == (expected is None), (name, flags)
            if expected is not None:
                assert getattr(ours, name).dtype == dtype
                assert_close_rel(getattr(ours, name).double(), expected, TOLERANCE[dtype])


@pytest.mark.parametrize("kind, d, m, batch", CASES)
def test_the_fused_jet_leaves_the_other_fields_as_a_call_without_it(kind, d, m, batch):
    """Value, J, H from the jet with the v rows equal the plain call's; third = directional [v, v, e_k]."""
    model = build(kind, d, m, seed=3)
    x, v = _inputs(d, batch, 3, shared=False)
    fused = hp.derivatives(model, x, hessian=True, third_along=v, method="analytic-forward")
    plain = hp.derivatives(model, x, hessian=True, method="analytic-forward")
    for name in ("value", "jacobian", "hessian", "laplacian"):
        assert_close_rel(getattr(fused, name), getattr(plain, name), 1e-13)
    for k in range(d):
        e = torch.zeros(d, dtype=torch.float64)
        e[k] = 1.0
        rows = hp.directional(model, x, [v, v, e.expand_as(x)], method="analytic-forward")
        assert_close_rel(fused.third[..., k], rows, 1e-12)


def test_a_model_affine_in_x_has_no_third_derivative():
    model = nn.Sequential(nn.Linear(4, 3)).double()
    x, v = _inputs(4, (2,), 0, shared=True)
    out = hp.derivatives(model, x, hessian=True, third_along=v, method="analytic-forward")
    assert out.third.shape == (2, 3, 4) and not out.third.any() and not out.hessian.any()


def test_auto_chooses_an_engine_that_computes_it_and_others_refuse_by_name():
    model = build("mlp", 3, 2)
    x, v = _inputs(3, (4,), 0, shared=True)
    assert hp.explain(model, x, "derivatives", hessian=True, third_along=v).chosen == "analytic-forward"
    auto = hp.derivatives(model, x, hessian=True, third_along=v)
    assert_close_rel(auto.third, hp.derivatives(model, x, third_along=v, method="autograd").third, 1e-10)
    for method in ("analytic-backward", "multicomplex"):
        with pytest.raises(NotImplementedError, match="third_along"):
            hp.derivatives(model, x, third_along=v, method=method)


def test_a_hard_constrained_model_refuses_it():
    net = build("mlp", 2, 1)
    model = hp.nn.HardConstraint(net, lambda x: x[..., :1] * 0, lambda x: x[..., :1] * (1 - x[..., :1]))
    x, v = _inputs(2, (3,), 0, shared=True)
    with pytest.raises(NotImplementedError, match=r"product rule of a HardConstraint stops at second order .*\. "
                                                  r"Use method='autograd' \(torch.func\)\.$"):
        hp.derivatives(model, x, third_along=v)
    whole = hp.derivatives(model, x, third_along=v, method="autograd").third   # torch.func on the whole model
    assert_close_rel(whole, _full_third(model, x, v), 1e-12)


def test_bad_directions_are_refused_by_name():
    model = build("mlp", 3, 2)
    x, _ = _inputs(3, (4,), 0, shared=True)
    with pytest.raises(ValueError, match=r"third_along\[\.\.\., 3\]"):
        hp.derivatives(model, x, third_along=torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="third_along of shape"):
        hp.derivatives(model, x, third_along=torch.zeros(5, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="third_along is torch.float32"):
        hp.derivatives(model, x, third_along=torch.zeros(3))


def test_plans_take_a_new_direction_eagerly_and_compiled():
    model = build("mlp", 3, 2)
    for p in model.parameters():
        p.requires_grad_(False)
    x, v = _inputs(3, (), 0, shared=True)
    plan = hp.plan(model, x, "derivatives", jacobian=True, laplacian=False, hessian=True, third_along=v)
    compiled = plan.compile()
    x_new, v_new = x + 0.1, v * 2 - 0.3
    expected = hp.derivatives(model, x_new, laplacian=False, hessian=True, third_along=v_new)
    for out in (plan(x_new, third_along=v_new), compiled(x_new, third_along=v_new)):
        for name in ("value", "jacobian", "hessian", "third"):
            assert_close_rel(getattr(out, name), getattr(expected, name), 1e-12)
    with pytest.raises(ValueError, match="planned for third_along"):
        plan(x_new, third_along=torch.zeros(2, 3, dtype=torch.float64))


@pytest.mark.parametrize("kind, d, m, batch", CASES)
def test_a_loss_on_the_fused_jet_backpropagates_like_torch_func(kind, d, m, batch):
    """Parameter gradients of a loss on third, H and the value: analytic-forward = autograd (training)."""
    model = build(kind, d, m, seed=4)
    x, v = _inputs(d, batch, 4, shared=True)
    grads = []
    for method in ("analytic-forward", "autograd"):
        trained = copy.deepcopy(model)
        out = hp.derivatives(trained, x, hessian=True, third_along=v[None], method=method)
        ((out.third ** 2).sum() + out.hessian.sum() + out.value.sum()).backward()
        grads.append(torch.cat([p.grad.flatten() for p in trained.parameters()]))
    assert_close_rel(grads[0], grads[1], 1e-10)
