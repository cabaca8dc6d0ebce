"""The multicomplex engine vs torch.func on networks: every quantity, both dtypes, many shapes."""
import copy

import pytest
import torch
from torch import nn

import hodphys as hp
from tests.helpers import TOLERANCE, assert_close_rel, mixed_net, mlp

# (d, m, batch shape): d from 1 to 64, m from 1 to 16, batch (), (B,), (B, N); they cover both the
# forward and the backward (CSFD-BP) branch of every quantity that has two.
SHAPES = [(1, 1, ()), (2, 8, (5,)), (3, 2, (4, 3)), (16, 1, (6,)), (5, 16, (2, 3)), (64, 3, (3,))]
SEEDS = [0, 1]


def make_model(kind: str, d: int, m: int, seed: int) -> nn.Module:
    if kind == "mixed":
        return mixed_net(d, m, seed)
    return mlp(d, [10, 12], m, activation=nn.Tanh, seed=seed)


def inputs(d: int, batch: tuple, seed: int, n_vectors: int = 0):
    g = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(*batch, d, generator=g, dtype=torch.float64)
    vs = [torch.randn(*batch, d, generator=g, dtype=torch.float64) for _ in range(n_vectors)]
    return x, vs


def check(quantity, model, x, args, dtype, device="cpu", **options):
    """Run quantity with multicomplex in dtype on device; compare to torch.func in float64 on the CPU."""
    reference = getattr(hp, quantity)(model, x, *args, method="autograd")
    low = copy.deepcopy(model).to(device, dtype)
    low_args = [a.to(device, dtype) if torch.is_tensor(a) else [v.to(device, dtype) for v in a]
                if isinstance(a, list) else a for a in args]
    ours = getattr(hp, quantity)(low, x.to(device, dtype), *low_args, method="multicomplex", **options)
    assert ours.dtype == dtype and ours.device.type == device
    assert_close_rel(ours.cpu(), reference, TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("d,m,batch", SHAPES)
@pytest.mark.parametrize("quantity", ["jacobian", "hessian", "laplacian"])
def test_dense_quantities(quantity, d, m, batch, seed, dtype, device):
    model = make_model("mixed" if seed else "mlp", d, m, seed)
    x, _ = inputs(d, batch, seed)
    check(quantity, model, x, (), dtype, device)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("d,m,batch", SHAPES)
def test_hvp(d, m, batch, dtype, device):
    model = make_model("mixed", d, m, 0)
    x, (v,) = inputs(d, batch, 0, 1)
    check("hvp", model, x, (v,), dtype, device)
    check("hvp", model, x, (v[(0,) * len(batch)] if batch else v,), dtype, device)  # one v for the batch


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("d,m,batch", SHAPES[:4])
def test_directional_any_order(order, d, m, batch, dtype, device):
    model = make_model("mixed", d, m, order)
    x, vs = inputs(d, batch, order, order)
    check("directional", model, x, (vs,), dtype, device)


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("d,m,batch", SHAPES[:4])
def test_directional_grad_is_a_left_and_right_contraction(order, d, m, batch):
    model = make_model("mixed", d, m, 0)
    x, vs = inputs(d, batch, 0, order)
    w = torch.randn(m, dtype=torch.float64)
    check("directional_grad", model, x, (vs, w), torch.float64)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("d,batch", [(1, (4,)), (5, (3, 2)), (16, ())])
def test_dim_derivative_and_divergence(k, d, batch, device):
    model = make_model("mixed", d, d, k)
    x, _ = inputs(d, batch, k)
    check("dim_derivative", model, x, (k,), torch.float64, device)
    check("divergence", model, x, (), torch.float64, device)


@pytest.mark.parametrize("want", [dict(jacobian=True, laplacian=True, hessian=False),
                                  dict(jacobian=True, laplacian=True, hessian=True),
                                  dict(jacobian=True, laplacian=False, hessian=False),
                                  dict(jacobian=False, laplacian=True, hessian=False)])
def test_derivatives_in_one_pass(want):
    model = mixed_net(3, 4, seed=2)
    x, _ = inputs(3, (5, 2), 2)
    ours = hp.derivatives(model, x, method="multicomplex", **want)
    ref = hp.derivatives(model, x, method="autograd", **want)
    assert_close_rel(ours.value, model(x), 1e-15)
    for name in ("jacobian", "hessian", "laplacian"):
        if want[name]:
            assert_close_rel(getattr(ours, name), getattr(ref, name), 1e-10)
        else:
            assert getattr(ours, name) is None


@pytest.mark.parametrize("quantity,args", [("laplacian", ()), ("hessian", ()), ("directional", ("vs",))])
def test_finite_step_agrees_with_exact_to_order_h_squared(quantity, args):
    model = mixed_net(3, 2, seed=3)
    x, vs = inputs(3, (4,), 3, 3)
    call = [vs[0] if a == "v" else vs for a in args]
    exact = getattr(hp, quantity)(model, x, *call, method="multicomplex", h=0.0)
    errors = [(getattr(hp, quantity)(model, x, *call, method="multicomplex", h=h) - exact).abs().max().item()
              for h in (2.0 ** -5, 2.0 ** -6)]
    assert 3.0 < errors[0] / errors[1] < 5.0, errors


def test_real_part_is_the_model_output_for_any_step():
    from hodphys.engines.multicomplex.engine import _forward, _perturbed
    from hodphys.engines.multicomplex.rules import compile_model
    from hodphys.request import make_request

    model = mixed_net(3, 2, seed=4)
    x, vs = inputs(3, (6,), 4, 2)
    request = make_request("test", "directional", model, x, vectors=vs)
    for h in (0.0, 0.25, 2.0 ** -20):
        out, _ = _forward(compile_model(model), _perturbed(request, [v.unsqueeze(0) for v in request.vectors], h))
        assert_close_rel(out.real, model(x), 1e-15)


WEIGHT_LOSSES = {
    "laplacian+jacobian": lambda x, vs, w, **kw: hp.laplacian(MODEL_W, x, **kw).square().mean()
    + hp.jacobian(MODEL_W, x, **kw).square().mean(),
    "hessian": lambda x, vs, w, **kw: hp.hessian(MODEL_W, x, **kw).square().sum(),
    "hvp": lambda x, vs, w, **kw: hp.hvp(MODEL_W, x, vs[0], **kw).square().sum(),
    "directional3": lambda x, vs, w, **kw: hp.directional(MODEL_W, x, vs, **kw).square().sum(),
    "directional_grad2": lambda x, vs, w, **kw: hp.directional_grad(MODEL_W, x, vs[:2], w, **kw).square().sum(),
}
MODEL_W = mixed_net(2, 3, seed=5)


@pytest.mark.parametrize("loss", sorted(WEIGHT_LOSSES))
def test_gradients_to_the_weights_match_torch_func(loss):
    x, vs = inputs(2, (7,), 5, 3)
    w = torch.randn(3, dtype=torch.float64)
    grads = [torch.autograd.grad(WEIGHT_LOSSES[loss](x, vs, w, method=method), list(MODEL_W.parameters()),
                                 allow_unused=True, materialize_grads=True)
             for method in ("multicomplex", "autograd")]
    for ours, ref in zip(*grads):
        assert_close_rel(ours, ref, 1e-10)


def test_gradient_to_the_input_flows_through_the_hvp():
    model = mixed_net(3, 1, seed=6)
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    v = torch.randn(3, dtype=torch.float64)
    ours = torch.autograd.grad(hp.hvp(model, x, v, method="multicomplex").sum(), x)[0]
    ref = torch.autograd.grad(hp.hvp(model, x, v, method="autograd").sum(), x)[0]
    assert_close_rel(ours, ref, 1e-10)


def test_no_grad_gives_detached_results():
    model = mixed_net(3, 2, seed=7)
    x, _ = inputs(3, (4,), 7)
    with torch.no_grad():
        lap = hp.laplacian(model, x, method="multicomplex")
        ref = hp.laplacian(model, x, method="autograd")
    assert not lap.requires_grad
    assert_close_rel(lap, ref, 1e-10)


@pytest.mark.cuda
def test_cuda_matches_cpu():
    model = mixed_net(3, 2, seed=8)
    x, vs = inputs(3, (16,), 8, 2)
    for quantity, args in [("laplacian", ()), ("hessian", ()), ("jacobian", ()), ("directional", (vs,))]:
        cpu = getattr(hp, quantity)(model, x, *args, method="multicomplex")
        gpu_args = [[v.cuda() for v in a] for a in args]
        gpu = getattr(hp, quantity)(model.cuda(), x.cuda(), *gpu_args, method="multicomplex")
        model.cpu()
        assert gpu.device.type == "cuda"
        assert_close_rel(gpu.cpu(), cpu, 1e-12)
