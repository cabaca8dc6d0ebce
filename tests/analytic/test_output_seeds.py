"""Backward mode's output seeds (sweep.output_seeds): after a closing linear layer W the adjoints start
as W's rows (no eye·W GEMM), exactly as the seeds e_k pushed through W; a pass-through rule before it
must not hand the caller a view of W."""
import pytest
import torch
from torch import nn
from torch.fx.experimental.proxy_tensor import make_fx
from torch.func import jacrev, vmap

import hodphys as hp
from tests.helpers import assert_close_rel


class PassThrough(nn.Module):
    def forward(self, u):
        return u


class PassThroughRule:
    def __init__(self, module):
        self.module = module

    def apply(self, state):
        return state, None

    def backward(self, adjoint, saved):
        return adjoint


def _net(*tail: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(7, 9), nn.ELU(), nn.Linear(9, 9), nn.Tanh(), *tail).double()


@pytest.mark.parametrize("tail", [(nn.Linear(9, 4),), (nn.Linear(9, 4), nn.Tanh()), (nn.Linear(9, 4), nn.Linear(4, 3))],
                         ids=["closing-linear", "closing-activation", "two-linear"])
@pytest.mark.parametrize("batch", [1, 5])
def test_backward_jacobian_and_hessian_match_torch_func(tail, batch):
    model = _net(*tail)
    x = torch.randn(batch, 7, dtype=torch.float64)
    reference = vmap(jacrev(model))(x)
    assert_close_rel(hp.jacobian(model, x, method="analytic-backward"), reference, 1e-10)
    first = hp.derivatives(model, x, laplacian=False, method="analytic-backward")
    assert_close_rel(first.value, model(x), 1e-12)
    assert_close_rel(first.jacobian, reference, 1e-10)
    second = hp.derivatives(model, x, laplacian=False, hessian=True, method="analytic-backward")
    assert_close_rel(second.value, model(x), 1e-12)
    assert_close_rel(second.jacobian, reference, 1e-10)
    assert_close_rel(second.hessian, vmap(jacrev(jacrev(model)))(x), 1e-10)


def test_the_backward_jacobian_after_a_closing_linear_layer_multiplies_no_identity():
    model = _net(nn.Linear(9, 4)).float().requires_grad_(False)
    x = torch.randn(1, 7)
    graph = make_fx(lambda x: hp.jacobian(model, x, method="analytic-backward"), tracing_mode="fake",
                    _allow_non_fake_inputs=True)(x)
    targets = [node.target for node in graph.graph.nodes if node.op == "call_function"]
    assert torch.ops.aten.eye.default not in targets
    assert targets.count(torch.ops.aten.mm.default) == 2  # Wᵀ of the two hidden layers; none for eye·W₃


def test_a_rule_that_passes_the_adjoint_on_does_not_return_a_view_of_the_weight():
    hp.register_rule(PassThrough, PassThroughRule)
    closing = nn.Linear(3, 2).double()
    model = nn.Sequential(PassThrough(), closing)
    x = torch.randn(4, 3, dtype=torch.float64)
    jacobian = hp.jacobian(model, x, method="analytic-backward")
    assert_close_rel(jacobian, closing.weight.detach().expand(4, 2, 3), 1e-15)
    before = closing.weight.detach().clone()
    jacobian.zero_()
    assert torch.equal(closing.weight.detach(), before)
