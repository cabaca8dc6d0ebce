"""Dimension-wise derivatives of a HollowNet with k backward passes, whatever d is.

f_i(x) = τ(x_i, h_i) with h = c(x) and ∂h_i/∂x_i ≡ 0, so ∂^k f_i/∂x_i^k = ∂^k τ/∂u_i^k at u = x,
h held fixed. The trick: evaluate τ on a second handle u of x (same values) while h is computed
from x itself. Then τ_i depends on u only through u_i, and one vector-Jacobian product with a
vector of ones, 1ᵀ ∂τ/∂u = [∂τ_i/∂u_i]_i, is the whole diagonal; k of them, each with
create_graph, give D_dim^k.

Nothing is detached: h stays a differentiable function of x and of the conditioner's
parameters, so a loss on D_dim f backpropagates into the conditioner too (a naive h.detach()
would silently drop that gradient), and into x along both paths (u and h).

Glossary: B batch shape, N = prod(B), d dimensions, k order, q' extra (time, context) features.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from hodphys.nn.hollow.net import HollowNet, flat_extras, unpack
from hodphys.request import check_order, make_request


class DimDerivatives(NamedTuple):
    """f and its dimension-wise derivatives; orders[j] = D_dim^{j+1} f, each (*B, d)."""

    value: Tensor
    orders: list[Tensor]


def _next_order(current: Tensor, u: Tensor, create_graph: bool) -> Tensor:
    """1ᵀ ∂current/∂u: one backward pass; zeros where current no longer depends on u."""
    if not current.requires_grad:  # e.g. the third derivative of a piecewise-linear τ
        return torch.zeros_like(u)
    (grad,) = torch.autograd.grad(current, u, torch.ones_like(current), create_graph=create_graph,
                                  allow_unused=True)
    return torch.zeros_like(u) if grad is None else grad


def dim_derivatives_flat(net: HollowNet, x: Tensor, k: int, extra: Tensor | None) -> DimDerivatives:
    """f(x) and [D_dim^1 f, …, D_dim^k f] with exactly k backward passes.

    x (N, d), extra (N, q') or None → value (N, d), orders k × (N, d). Results carry a graph
    (to x and every parameter) when grad mode is on; under torch.no_grad they are plain tensors.
    """
    if torch.is_inference_mode_enabled():
        # inference mode records no graph at all, even under enable_grad, and the k backward passes
        # need one: leave it for this computation (results are plain tensors, as under no_grad)
        with torch.inference_mode(False), torch.no_grad():
            x = x.clone()
            extra = None if extra is None else extra.clone()
            return dim_derivatives_flat(net, x, k, extra)
    if x.is_inference():  # made under inference mode, used outside it: autograd needs a normal tensor
        x = x.clone()
    keep_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        # u: the handle τ is differentiated by; h never sees it. Stay connected to x if x has a graph.
        u = x.clone() if x.requires_grad else x.detach().requires_grad_(True)
        with torch.set_grad_enabled(keep_graph):  # inference: no backward pass ever reaches h
            h = net.conditioner(x, extra)
        value = current = net.transform(u, h, extra)
        orders = []
        for order in range(1, k + 1):
            current = _next_order(current, u, create_graph=keep_graph or order < k)
            orders.append(current)
    if not keep_graph:
        value, orders = value.detach(), [o.detach() for o in orders]
    return DimDerivatives(value, orders)


def value_and_dim_derivatives(model: nn.Module, x: Tensor, k: int = 1, t: Any = None,
                              context: Tensor | None = None) -> DimDerivatives:
    """f(x) and D_dim^1 f … D_dim^k f of a HollowNet in one forward and k backward passes.

    D_dim^j f = [∂^j f_i/∂x_i^j]_i. Shapes: x (*B, d) → value and each order (*B, d).
    t, context: as for ``HollowNet.forward`` (not with a bound net).

    Example (Fokker–Planck needs f, D_dim f and D²_dim f)::

        f, (df, d2f) = value_and_dim_derivatives(net, x, k=2)
    """
    call = f"hodphys.hollow.value_and_dim_derivatives(model, x, k={k!r})"
    check_order(call, k)
    net, t, context = unpack(call, model, t, context)
    request = make_request(call, "dim_derivative", model, x, order=k)
    extra = flat_extras(net, request.batch_shape, request.x, t, context)
    value, orders = dim_derivatives_flat(net, request.x, k, extra)
    return DimDerivatives(request.unflatten(value), [request.unflatten(o) for o in orders])


def value_divergence_vjp_flat(net: HollowNet, x: Tensor, extra: Tensor | None,
                              v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """f, div f and vᵀ∂f/∂x from one forward and ONE backward pass; v (N, d) without zeros.

    The backward pass with cotangent v reaches both the handle u and x: τ_i reads u only through
    u_i, so vᵀ∂τ/∂u = v ⊙ D_dim f, and D_dim f = (vᵀ∂τ/∂u) / v; through u and h it gives the whole
    vᵀ∂f/∂x. (For ±1 entries, Rademacher's, the division is exact.) Not under inference mode.
    """
    keep_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        # under no_grad x may be a view made there (requires_grad, but no path back): start afresh
        connected = keep_graph and x.requires_grad and not x.is_inference()
        x = x if connected else x.detach().clone().requires_grad_(True)
        u = x.clone()
        value = net.transform(u, net.conditioner(x, extra), extra)
        scaled, vjp = torch.autograd.grad(value, (u, x), v, create_graph=keep_graph)
    divergence = (scaled / v).sum(-1)
    if not keep_graph:
        return value.detach(), divergence.detach(), vjp.detach()
    return value, divergence, vjp
