"""The contenders hodphys is measured against, written as their users write them.

* ``func_*``: torch.func transforms under ``vmap`` over the batch (the reference);
* ``loop_*``: the DeepXDE style — nested ``torch.autograd.grad(..., create_graph=True)`` calls in
  Python loops, one per output and (for second derivatives) one per input dimension.

Each builder takes the model and the inputs and returns a zero-argument callable.
Glossary: N batch, d input features, m outputs; x (N, d), v (N, d), w (N, m).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.autograd import grad
from torch.func import hessian, jacfwd, jacrev, jvp, vmap

Thunk = Callable[[], Tensor]


def _per_sample(model: nn.Module) -> Callable[[Tensor], Tensor]:
    """f: (d,) → (m,)."""
    return lambda x: model(x.unsqueeze(0)).squeeze(0)


def _second_directional(f: Callable[[Tensor], Tensor]) -> Callable[[Tensor, Tensor], Tensor]:
    """(x, v) ↦ ∇²f(x)[v, v] by two nested jvps."""
    first = lambda y, v: jvp(f, (y,), (v,))[1]  # noqa: E731
    return lambda x, v: jvp(lambda y: first(y, v), (x,), (v,))[1]


def func_hessian(model: nn.Module, x: Tensor) -> Thunk:
    """``vmap(hessian(f))(x)``: (N, m, d, d)."""
    return lambda: vmap(hessian(_per_sample(model)))(x)


def func_laplacian(model: nn.Module, x: Tensor) -> Thunk:
    """The trace of ``vmap(hessian(f))(x)``: (N, m)."""
    full = func_hessian(model, x)
    return lambda: full().diagonal(dim1=-2, dim2=-1).sum(-1)


def func_jacobian(model: nn.Module, x: Tensor, forward: bool) -> Thunk:
    """``vmap(jacfwd(f))(x)`` or ``vmap(jacrev(f))(x)``: (N, m, d)."""
    transform = jacfwd if forward else jacrev
    return lambda: vmap(transform(_per_sample(model)))(x)


def func_directional(model: nn.Module, x: Tensor, v: Tensor) -> Thunk:
    """∇²f[v, v] by nested ``jvp`` under ``vmap``: (N, m)."""
    return lambda: vmap(_second_directional(_per_sample(model)))(x, v)


def func_directional_grad(model: nn.Module, x: Tensor, v: Tensor, w: Tensor) -> Thunk:
    """∇ₓ(wᵀ∇²f[v, v]) by ``jacrev`` of nested ``jvp`` under ``vmap``: (N, d)."""
    g = _second_directional(_per_sample(model))
    return lambda: vmap(jacrev(lambda x, v, w: (w * g(x, v)).sum()))(x, v, w)


def _leaf(x: Tensor) -> Tensor:
    return x.detach().requires_grad_(True)


def _d(y: Tensor, x: Tensor) -> Tensor:
    """∂(Σ_batch y)/∂x, kept differentiable (y is (N,), x (N, d), so this is per-sample)."""
    return grad(y.sum(), x, create_graph=True)[0]


def loop_hessian(model: nn.Module, x: Tensor) -> Thunk:
    """H[:, k, i] = ∂(∂f_k/∂x_i)/∂x for every output k and input i: m·(1 + d) grads."""
    def run() -> Tensor:
        with torch.enable_grad():
            xg = _leaf(x)
            y = model(xg)
            rows = []
            for k in range(y.shape[1]):
                g = _d(y[:, k], xg)
                rows.append(torch.stack([_d(g[:, i], xg) for i in range(xg.shape[1])], 1))
            return torch.stack(rows, 1).detach()

    return run


def loop_laplacian(model: nn.Module, x: Tensor, keep_graph: bool = False) -> Thunk:
    """Δf_k = Σ_i ∂(∂f_k/∂x_i)/∂x_i for every output k: m·(1 + d) grads.

    keep_graph returns Δf still attached to the weights' graph (for a training loss).
    """
    def run() -> Tensor:
        with torch.enable_grad():
            xg = _leaf(x)
            y = model(xg)
            out = []
            for k in range(y.shape[1]):
                g = _d(y[:, k], xg)
                out.append(sum(_d(g[:, i], xg)[:, i] for i in range(xg.shape[1])))
            laplacian = torch.stack(out, 1)
            return laplacian if keep_graph else laplacian.detach()

    return run


def loop_jacobian(model: nn.Module, x: Tensor) -> Thunk:
    """J[:, k] = ∂f_k/∂x for every output k: m grads."""
    def run() -> Tensor:
        with torch.enable_grad():
            xg = _leaf(x)
            y = model(xg)
            return torch.stack([_d(y[:, k], xg) for k in range(y.shape[1])], 1).detach()

    return run


def loop_directional(model: nn.Module, x: Tensor, v: Tensor) -> Thunk:
    """∇²f_k[v, v] = ∂((∂f_k/∂x)·v)/∂x · v for every output k: 2m grads."""
    def run() -> Tensor:
        with torch.enable_grad():
            xg = _leaf(x)
            y = model(xg)
            out = [(_d((_d(y[:, k], xg) * v).sum(1), xg) * v).sum(1) for k in range(y.shape[1])]
            return torch.stack(out, 1).detach()

    return run


def loop_directional_grad(model: nn.Module, x: Tensor, v: Tensor, w: Tensor) -> Thunk:
    """∇ₓ(wᵀ∇²f[v, v]) = ∇ₓ(∇²(wᵀf)[v, v]): three nested grads of the scalar wᵀf."""
    def run() -> Tensor:
        with torch.enable_grad():
            xg = _leaf(x)
            s = (model(xg) * w).sum(1)
            second = (_d((_d(s, xg) * v).sum(1), xg) * v).sum(1)
            return grad(second.sum(), xg)[0]

    return run
