"""The autograd engine: torch.func transforms, vmapped over the batch.

This is the reference every other engine is tested against, and the fallback for modules no
rule covers. f denotes the model on one sample: (d,) → (m,).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import jacfwd, jacrev, jvp, vjp, vmap

from hodphys.engines import cost
from hodphys.engines.registry import register_engine
from hodphys.request import Request


def _per_sample(request: Request) -> Callable[[Tensor], Tensor]:
    """f: (d,) → (m,), checking the model returns one output row of m values per input row."""
    model, call, m = request.model, request.call, request.m
    _check_per_sample(call, model)

    def f(x: Tensor) -> Tensor:
        y = model(x.unsqueeze(0))
        if not isinstance(y, Tensor):
            raise TypeError(f"{call}: expected the model to return a tensor of shape (*B, m), got {type(y).__name__}")
        if y.ndim != 2 or y.shape[0] != 1 or y.shape[1] != m:
            raise ValueError(
                f"{call}: expected the model to map x of shape (*B, d) to (*B, {m}), got output of "
                f"shape {tuple(y.shape)} for input of shape (1, {x.shape[-1]})"
                + (" (the model's last layer declares out_features but a later module changes the width)"
                   if y.ndim == 2 else "")
            )
        return y[0]

    return f


_BATCH_COUPLED = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)


def _check_per_sample(call: str, model: nn.Module) -> None:
    """Derivatives per sample need a deterministic, sample-wise model: no dropout or batch-norm
    statistics in training mode (torch.func would fail with a message about randomness or
    in-place updates of captured tensors)."""
    for name, module in model.named_modules():
        if module.training and isinstance(module, _BATCH_COUPLED) and getattr(module, "p", 1.0) != 0:
            raise ValueError(
                f"{call}: {type(module).__name__} at {name or 'model'} is in training mode, where its "
                f"output is random or mixes the samples of a batch, so ∂f/∂x per sample is not defined; "
                f"call model.eval() first"
            )


def _jvp_of(g: Callable[[Tensor], Tensor], v: Tensor, reverse_only: bool) -> Callable[[Tensor], Tensor]:
    """y ↦ Dg(y)[v]; reverse_only transposes a vjp instead (for ops without forward-AD rules)."""
    if not reverse_only:
        return lambda y: jvp(g, (y,), (v,))[1]

    def by_double_vjp(y: Tensor) -> Tensor:
        out, pullback = vjp(g, y)
        return vjp(lambda u: pullback(u)[0], torch.zeros_like(out))[1](v)[0]

    return by_double_vjp


def _nested_jvp(f: Callable[[Tensor], Tensor], reverse_only: bool) -> Callable[..., Tensor]:
    """g(x, v1..vn) = Dⁿf(x)[v1..vn] by n nested jvps."""
    def g(x: Tensor, *vs: Tensor) -> Tensor:
        inner = f
        for v in vs:
            inner = _jvp_of(inner, v, reverse_only)
        return inner(x)

    return g


def _forward_ad_or_reverse(method: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Run with forward-mode AD; where an op has no forward-AD rule (e.g. silu_backward in
    torch 2.x), run the same transform built from reverse mode only."""
    def wrapped(self, request: Request) -> Tensor:
        try:
            return method(self, request, reverse_only=False)
        except NotImplementedError as err:
            if "forward AD" not in str(err):
                raise
            return method(self, request, reverse_only=True)

    return wrapped


def _expand(request: Request, t: Tensor) -> Tensor:
    return t.expand(request.n_batch, t.shape[-1])


class AutogradEngine:
    """torch.func: jacrev/jacfwd/hessian/jvp under vmap."""

    name = "autograd"
    options: frozenset[str] = frozenset()
    ops_per_layer = 30  # each op goes through vmap and one to three grad/jvp transforms

    def unsupported(self, request: Request) -> str | None:
        if request.quantity in ("dim_derivative", "divergence") and request.m != request.d:
            return f"{request.quantity} needs m == d, the model has m={request.m}, d={request.d}"
        return None

    def cost(self, request: Request) -> float:
        """Rows per sample: jacrev is a forward and m vjps (~2 rows each), jacfwd d jvps (~2 rows),
        hessian = jacfwd(jacrev): d·(1 + 2m); nested jvps double the rows per level."""
        d, m, n = request.d, request.m or request.d, len(request.vectors)
        first = 1 + 2 * min(d, m)
        second = d * (1 + 2 * m)
        rows = {
            "jacobian": first, "divergence": first, "hessian": second, "laplacian": second,
            "hvp": 2 * (1 + 2 * m), "directional": 2 ** n, "directional_grad": 3 * 2 ** n,
            "dim_derivative": d * 2 ** request.order,
            "derivatives": (second if request.want & {"hessian", "laplacian"} else first)
            + (3 * d * 4 if "third" in request.want else 0),  # jacfwd over two nested jvps
        }[request.quantity]
        depth = {"jacobian": 1, "divergence": 1, "directional": n, "directional_grad": n + 1,
                 "dim_derivative": request.order}.get(request.quantity, 2)
        sizes = cost.network_sizes(request.model, request.d)
        return cost.sweep(request.n_batch, rows, sizes) + cost.launches(sizes, 1 + depth, self.ops_per_layer)

    def value(self, request: Request) -> Tensor:
        return request.model(request.x)

    def jacobian(self, request: Request) -> Tensor:
        f = _per_sample(request)
        transform = jacfwd if request.d <= request.m else jacrev
        return vmap(transform(f))(request.x)

    @_forward_ad_or_reverse
    def hessian(self, request: Request, reverse_only: bool) -> Tensor:
        outer = jacrev if reverse_only else jacfwd
        return vmap(outer(jacrev(_per_sample(request))))(request.x)

    def laplacian(self, request: Request) -> Tensor:
        return self.hessian(request).diagonal(dim1=-2, dim2=-1).sum(-1)

    @_forward_ad_or_reverse
    def hvp(self, request: Request, reverse_only: bool) -> Tensor:
        grad = jacrev(_per_sample(request))
        return vmap(lambda x, v: _jvp_of(grad, v, reverse_only)(x))(request.x, _expand(request, request.vectors[0]))

    @_forward_ad_or_reverse
    def directional(self, request: Request, reverse_only: bool) -> Tensor:
        g = _nested_jvp(_per_sample(request), reverse_only)
        vs = [_expand(request, v) for v in request.vectors]
        return vmap(g)(request.x, *vs)

    @_forward_ad_or_reverse
    def directional_grad(self, request: Request, reverse_only: bool) -> Tensor:
        g = _nested_jvp(_per_sample(request), reverse_only)
        vs = [_expand(request, v) for v in request.vectors]
        w = _expand(request, request.weight)
        return vmap(jacrev(lambda x, w, *v: (w * g(x, *v)).sum()))(request.x, w, *vs)

    @_forward_ad_or_reverse
    def dim_derivative(self, request: Request, reverse_only: bool) -> Tensor:
        f, d, k = _per_sample(request), request.d, request.order
        eye = torch.eye(d, dtype=request.x.dtype, device=request.x.device)

        def diagonal(x: Tensor) -> Tensor:
            per_direction = vmap(lambda e: _nested_jvp(f, reverse_only)(x, *(e,) * k))(eye)  # (d, m)
            return per_direction.diagonal()

        return vmap(diagonal)(request.x)

    def divergence(self, request: Request) -> Tensor:
        return self.jacobian(request).diagonal(dim1=-2, dim2=-1).sum(-1)

    @_forward_ad_or_reverse
    def third_along(self, request: Request, reverse_only: bool) -> Tensor:
        """∇³f[v, v, ·] (N, m, d): the x-Jacobian of D²f[v, v] (two nested jvps)."""
        g = _nested_jvp(_per_sample(request), reverse_only)
        outer = jacrev if reverse_only else jacfwd
        v = _expand(request, request.vectors[0])
        return vmap(outer(lambda x, v: g(x, v, v)))(request.x, v)

    def derivatives(self, request: Request) -> dict[str, Tensor]:
        out = {"value": self.value(request)}
        if request.want & {"hessian", "laplacian"}:
            hess = self.hessian(request)
            if "hessian" in request.want:
                out["hessian"] = hess
            if "laplacian" in request.want:
                out["laplacian"] = hess.diagonal(dim1=-2, dim2=-1).sum(-1)
        if "jacobian" in request.want:
            out["jacobian"] = self.jacobian(request)
        if "third" in request.want:
            out["third"] = self.third_along(request)
        return out


register_engine(AutogradEngine())
