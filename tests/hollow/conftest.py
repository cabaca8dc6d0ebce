"""Brute-force references for the hollow tests: nested autograd on the whole network, one
dimension at a time (the d-pass computation the hollow engine avoids)."""
from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from hodphys.nn import HollowNet

TOL = {torch.float64: 1e-12, torch.float32: 1e-4}  # relative, as tests.helpers.assert_close_rel


def brute_dim_derivatives(f: Callable[[Tensor], Tensor], x: Tensor, k: int) -> list[Tensor]:
    """[D_dim^1 f, …, D_dim^k f] by differentiating f_i k times w.r.t. x_i, for every i separately.

    Keeps the graph (create_graph) so parameter gradients of the results can be taken too.
    x: (*B, d) leaf with requires_grad; returns k tensors (*B, d).
    """
    value = f(x)
    per_order: list[list[Tensor]] = [[] for _ in range(k)]
    for i in range(x.shape[-1]):
        g = value[..., i]
        for order in range(k):
            g = torch.autograd.grad(g.sum(), x, create_graph=True)[0][..., i]
            per_order[order].append(g)
    return [torch.stack(gs, dim=-1) for gs in per_order]


def make_net(d: int, dtype: torch.dtype, seed: int, conditioner: str = "sum",
             activation: nn.Module | None = None, **kwargs) -> HollowNet:
    """A small HollowNet with tanh by default (its higher derivatives are not tiny)."""
    torch.manual_seed(seed)
    kwargs = {"hidden_features": 4, "width": 12, "transformer_width": 12, **kwargs}
    net = HollowNet(d, conditioner=conditioner, activation=activation or nn.Tanh(), **kwargs)
    return net.to(dtype)


@pytest.fixture(params=[torch.float64, torch.float32], ids=["float64", "float32"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    return request.param


@pytest.fixture
def tol(dtype: torch.dtype) -> float:
    return TOL[dtype]


@pytest.fixture
def brute() -> Callable[..., list[Tensor]]:
    return brute_dim_derivatives


@pytest.fixture
def net_factory() -> Callable[..., HollowNet]:
    return make_net
