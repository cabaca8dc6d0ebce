"""Training through analytic derivatives: parameter gradients, create_graph, no_grad, dtype, batch dims."""
import pytest
import torch

import hodphys as hp
from tests.analytic.nets import build
from tests.helpers import assert_close_rel

MODES = ["analytic-forward", "analytic-backward"]


def _param_grads(model, loss):
    return torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)


@pytest.mark.parametrize("method", MODES)
@pytest.mark.parametrize("kind, d, m", [("wide", 7, 2), ("resnet", 3, 2), ("icnn", 3, 1), ("quadratic", 4, 1)])
def test_parameter_gradients_of_derivative_losses_match_autograd(kind, d, m, method):
    model = build(kind, d, m)
    x = torch.randn(5, d, dtype=torch.float64)
    for quantity in ("laplacian", "hessian", "jacobian"):
        ours = _param_grads(model, getattr(hp, quantity)(model, x, method=method).square().sum())
        reference = _param_grads(model, getattr(hp, quantity)(model, x, method="autograd").square().sum())
        for a, b in zip(ours, reference):
            if b is None:
                assert a is None or a.abs().max() == 0
            else:
                assert_close_rel(a, b, 1e-10)


@pytest.mark.parametrize("method", MODES)
def test_gradient_with_respect_to_x_and_third_order_through_create_graph(method):
    model = build("mlp", 3, 2)
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    v = torch.randn(4, 3, dtype=torch.float64)
    ours = torch.autograd.grad(hp.hvp(model, x, v, method=method).sum(), x, create_graph=True)[0]
    ref = torch.autograd.grad(hp.hvp(model, x, v, method="autograd").sum(), x, create_graph=True)[0]
    assert_close_rel(ours, ref, 1e-10)
    assert ours.requires_grad


@pytest.mark.parametrize("method", MODES)
def test_no_grad_and_dtype_and_batch_shape_follow_the_input(method):
    model = build("resnet", 3, 2).float()
    x = torch.randn(2, 3, 4, 3)
    with torch.no_grad():
        hess = hp.hessian(model, x, method=method)
        lap = hp.laplacian(model, x[0, 0, 0], method=method)
    assert hess.shape == (2, 3, 4, 2, 3, 3) and hess.dtype == torch.float32 and not hess.requires_grad
    assert lap.shape == (2,)
    assert hp.jacobian(model, x, method=method).shape == (2, 3, 4, 2, 3)


def test_stateless_layers_give_the_same_answer_twice_and_interleaved():
    a, b = build("mlp", 3, 2, seed=0), build("mlp", 3, 2, seed=1)
    x = torch.randn(4, 3, dtype=torch.float64)
    first = hp.hessian(a, x, method="analytic-backward")
    hp.hessian(b, torch.randn(7, 3, dtype=torch.float64), method="analytic-backward")
    assert torch.equal(first, hp.hessian(a, x, method="analytic-backward"))
    assert not any(hasattr(m, "ctx") for m in a.modules())


def test_compiled_rules_follow_layer_replacement():
    model = build("mlp", 3, 2)
    x = torch.randn(4, 3, dtype=torch.float64)
    hp.laplacian(model, x, method="analytic-forward")
    model[1] = torch.nn.Softplus()
    ours = hp.laplacian(model, x, method="analytic-forward")
    assert_close_rel(ours, hp.laplacian(model, x, method="autograd"), 1e-10)


@pytest.mark.parametrize("kind, d, m", [("quadratic", 4, 1), ("mixed", 2, 3), ("resnet", 3, 2), ("wide", 7, 2)])
def test_in_place_sweeps_without_autograd_give_the_same_results(kind, d, m):
    model = build(kind, d, m)
    x, v, u = torch.randn(3, 4, d, dtype=torch.float64)
    for quantity, args in (("laplacian", []), ("hessian", []), ("jacobian", []), ("hvp", [v]),
                           ("directional", [[v, u]])):
        recorded = getattr(hp, quantity)(model, x, *args, method="analytic-forward")
        assert recorded.requires_grad
        with torch.no_grad():
            in_place = getattr(hp, quantity)(model, x, *args, method="analytic-forward")
        assert_close_rel(in_place, recorded, 1e-14)
        assert_close_rel(in_place, getattr(hp, quantity)(model, x, *args, method="autograd"), 1e-10)


def test_caches_do_not_keep_models_alive():
    import gc
    import weakref

    for make in (lambda: build("resnet", 3, 2), lambda: hp.nn.ResidualBlock(3).double()):
        model, x = make(), torch.randn(4, 3, dtype=torch.float64)
        hp.hessian(model, x)
        hp.laplacian(model, x, method="analytic-forward")
        ref = weakref.ref(model)
        del model
        gc.collect()
        assert ref() is None


@pytest.mark.parametrize("kind, d, m", [("resnet", 3, 2), ("icnn", 3, 1), ("quadratic", 4, 1)])
def test_parameter_gradients_of_third_order_losses_match_autograd(kind, d, m):
    """A loss on D³f[v₁, v₂, v₃] (e.g. a KdV-type u_xxx residual) trains the weights exactly."""
    model = build(kind, d, m)
    g = torch.Generator().manual_seed(3)
    x, *vs = (torch.randn(5, d, dtype=torch.float64, generator=g) for _ in range(4))
    ours = _param_grads(model, hp.directional(model, x, vs, method="analytic-forward").square().sum())
    reference = _param_grads(model, hp.directional(model, x, vs, method="autograd").square().sum())
    for a, b in zip(ours, reference):
        if b is None:
            assert a is None or a.abs().max() == 0
        else:
            assert_close_rel(a, b, 1e-10)


def _frozen_but(model, trainable):
    """Only the parameters named by ``trainable(name)`` require grad."""
    for name, p in model.named_parameters():
        p.requires_grad_(trainable(name))
    return model


def _residual_first():
    torch.manual_seed(0)
    return torch.nn.Sequential(hp.nn.ResidualBlock(3, torch.nn.Tanh(), step=0.5), torch.nn.Linear(3, 2)).double()


def _mlp(middle):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 5), middle, torch.nn.Linear(5, 5), torch.nn.Tanh(),
                               torch.nn.Linear(5, 2)).double()


@pytest.mark.parametrize("case", ["x-only", "biases-only", "one-bias", "x-through-identity"])
def test_gradients_when_only_the_value_carries_a_graph(case):
    """Some of the graph reaches the value (x, or a bias) but not the tangent rows: σ′(z) then reads
    rows that must not be overwritten in place (fused residual sums, all-pairs second rows)."""
    x = torch.randn(5, 3, dtype=torch.float64)
    if case == "x-only":
        model, quantity = _frozen_but(_residual_first(), lambda name: False), "jacobian"
        x.requires_grad_(True)
        wrt = [x]
    elif case == "biases-only":
        model, quantity = _frozen_but(_residual_first(), lambda name: name.endswith("bias")), "jacobian"
        wrt = [model[0].linear.bias]
    elif case == "one-bias":
        model, quantity = _frozen_but(_mlp(torch.nn.Tanh()), lambda name: name == "2.bias"), "hessian"
        wrt = [model[2].bias]
    else:
        model, quantity = _frozen_but(_mlp(torch.nn.Identity()), lambda name: False), "hessian"
        x.requires_grad_(True)
        wrt = [x]
    ours = getattr(hp, quantity)(model, x, method="analytic-forward")
    reference = getattr(hp, quantity)(model, x, method="autograd")
    assert_close_rel(ours, reference, 1e-10)
    for a, b in zip(torch.autograd.grad(ours.square().sum(), wrt), torch.autograd.grad(reference.square().sum(), wrt)):
        assert_close_rel(a, b, 1e-9)
