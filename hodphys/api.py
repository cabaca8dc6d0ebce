"""The public derivative API: one front door over every engine.

Shapes follow torch.func: x is (*B, d), the model maps it to (*B, m); results put the batch
first and the output index before the input indices. ``method`` is "auto" (cheapest engine
that can, see :func:`explain`) or a registered engine name ("multicomplex", "autograd", …);
engine options (e.g. ``h=2**-20`` for multicomplex) are passed as keywords.
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hodphys import engines
from hodphys.request import Request, check_order, make_request


class Derivatives(NamedTuple):
    """The result of :func:`derivatives`; fields not asked for are None."""

    value: Tensor  # (*B, m)
    jacobian: Tensor | None  # (*B, m, d)
    hessian: Tensor | None  # (*B, m, d, d)
    laplacian: Tensor | None  # (*B, m)
    third: Tensor | None = None  # (*B, m, d): ∇³f[v, v, ·] for third_along=v


QUANTITIES = ("jacobian", "hessian", "laplacian", "hvp", "directional", "directional_grad",
              "dim_derivative", "divergence", "derivatives")


def _call(name: str, extra: str = "") -> str:
    return f"hp.{name}(model, x{extra})"


def _compute(request: Request, method: str) -> Tensor:
    return request.unflatten(engines.run(request, method))


def jacobian(model: nn.Module, x: Tensor, method: str = "auto", **options: Any) -> Tensor:
    """J = ∂f/∂x, shape (*B, m, d)."""
    return _compute(make_request(_call("jacobian"), "jacobian", model, x, options=options), method)


def hessian(model: nn.Module, x: Tensor, method: str = "auto", **options: Any) -> Tensor:
    """H_k = ∂²f_k/∂x², shape (*B, m, d, d)."""
    return _compute(make_request(_call("hessian"), "hessian", model, x, options=options), method)


def laplacian(model: nn.Module, x: Tensor, method: str = "auto", **options: Any) -> Tensor:
    """Δf_k = Σ_i ∂²f_k/∂x_i², shape (*B, m)."""
    return _compute(make_request(_call("laplacian"), "laplacian", model, x, options=options), method)


def hvp(model: nn.Module, x: Tensor, v: Tensor, method: str = "auto", **options: Any) -> Tensor:
    """Hessian-vector products ∇²f_k·v, shape (*B, m, d); v is (d,) or (*B, d)."""
    request = make_request(_call("hvp", ", v"), "hvp", model, x, vectors=(v,), options=options)
    return _compute(request, method)


def _directions(call: str, vs: Any) -> tuple[Tensor, ...]:
    if isinstance(vs, Tensor) or not isinstance(vs, Sequence) or len(vs) == 0:
        raise ValueError(
            f"{call}: expected vs to be a non-empty list of directions [v1, …, vn], each (d,) or "
            f"(*B, d); got {type(vs).__name__}" + (f" of shape {tuple(vs.shape)}" if isinstance(vs, Tensor) else "")
        )
    return tuple(vs)


def directional(model: nn.Module, x: Tensor, vs: Sequence[Tensor], method: str = "auto",
                **options: Any) -> Tensor:
    """Dⁿf(x)[v1, …, vn] = ∇ⁿf·(v1⊗…⊗vn) with n = len(vs), shape (*B, m)."""
    call = _call("directional", ", vs")
    request = make_request(call, "directional", model, x, vectors=_directions(call, vs), options=options)
    return _compute(request, method)


def _with_weight(request: Request) -> Request:
    """directional_grad's w, which may be omitted when m = 1 (then w = [1])."""
    if request.weight is not None:
        return request
    if request.m != 1:
        raise ValueError(f"{request.call}: the model has m={request.m} outputs; pass w of shape (m,) or (*B, m)")
    return dataclasses.replace(request, weight=request.x.new_ones((1, 1)))


def directional_grad(model: nn.Module, x: Tensor, vs: Sequence[Tensor], w: Tensor | None = None,
                     method: str = "auto", **options: Any) -> Tensor:
    """∇ₓ(wᵀ Dⁿf(x)[v1, …, vn]) = wᵀ∇ⁿ⁺¹f·(v1⊗…⊗vn), shape (*B, d).

    w is (m,) or (*B, m); it may be omitted when m = 1. With n = 1 this is wᵀ(∇²f·v).
    """
    call = _call("directional_grad", ", vs, w")
    vectors = _directions(call, vs)
    request = make_request(call, "directional_grad", model, x, vectors=vectors, weight=w, options=options)
    return _compute(_with_weight(request), method)


def dim_derivative(model: nn.Module, x: Tensor, k: int = 1, method: str = "auto", **options: Any) -> Tensor:
    """Dimension-wise derivatives [∂ᵏf_i/∂x_iᵏ]_i, shape (*B, d); needs m = d."""
    call = _call("dim_derivative", f", k={k!r}")
    check_order(call, k)
    request = make_request(call, "dim_derivative", model, x, order=k, options=options)
    if request.m != request.d:
        raise ValueError(f"{call}: needs as many outputs as inputs, the model maps d={request.d} to m={request.m}")
    return _compute(request, method)


class ValueAndDivergence(NamedTuple):
    """The result of ``divergence(..., return_value=True)`` or ``divergence(..., vjp=v)``."""

    value: Tensor  # f(x), (*B, d)
    divergence: Tensor  # div f(x), (*B,)
    vjp: Tensor | None  # vᵀ ∂f/∂x, (*B, d), when v was given


def _value_and_vjp(model: nn.Module, x: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """f(x) and vᵀ∂f/∂x by one more forward and backward pass (engines without a fused one)."""
    keep = torch.is_grad_enabled()
    with torch.enable_grad():
        x_in = x if x.requires_grad else x.detach().requires_grad_(True)
        value = model(x_in)
        (grad,) = torch.autograd.grad(value, x_in, v.expand_as(value), create_graph=keep, allow_unused=True)
    grad = torch.zeros_like(x) if grad is None else grad
    return (value, grad) if keep else (value.detach(), grad.detach())


def divergence(model: nn.Module, x: Tensor, method: str = "auto", return_value: bool = False,
               vjp: Tensor | None = None, **options: Any) -> Tensor | ValueAndDivergence:
    """div f = Σ_i ∂f_i/∂x_i, shape (*B,); needs m = d.

    ``return_value=True`` returns ``(value, divergence, None)``: f(x) from the same pass where the
    engine has it (the hollow engine: one forward, one backward), else from one more model call.
    ``vjp=v`` ((d,) or (*B, d)) returns ``(value, divergence, vᵀ∂f/∂x)``: the hollow engine takes all
    three from one forward and one backward pass (v without zero entries, e.g. Rademacher's ±1 —
    what a CNF's Jacobian regulariser needs); other engines add one forward and backward pass.
    """
    call = _call("divergence")
    want = frozenset({"value"}) if return_value or vjp is not None else frozenset()
    vectors = () if vjp is None else (vjp,)
    request = make_request(call, "divergence", model, x, vectors=vectors, want=want, options=options)
    if request.m != request.d:
        raise ValueError(f"{call}: needs as many outputs as inputs, the model maps d={request.d} to m={request.m}")
    out = engines.run(request, method)
    if not want:
        return request.unflatten(out)
    if isinstance(out, tuple) and len(out) == 3:  # f, div f, vᵀ∂f/∂x from one pass
        return ValueAndDivergence(*(request.unflatten(part) for part in out))
    value, div = out if isinstance(out, tuple) else (None, out)
    if vjp is not None:
        value, product = _value_and_vjp(model, x, vjp)
        return ValueAndDivergence(value, request.unflatten(div), product)
    return ValueAndDivergence(model(x) if value is None else request.unflatten(value), request.unflatten(div), None)


def derivatives(model: nn.Module, x: Tensor, jacobian: bool = True, laplacian: bool = True,
                hessian: bool = False, method: str = "auto", third_along: Tensor | None = None,
                **options: Any) -> Derivatives:
    """Value and the asked-for derivatives in one pass: a :class:`Derivatives` named tuple.

    ``third_along=v`` ((d,) or (*B, d)) adds ``third`` = ∇³f[v, v, ·] (*B, m, d), the x-gradient of
    D²f[v, v] — what Newton on an equation with ∇²f[v, v] in it (a decoder's acceleration
    term) needs besides J and H; the analytic-forward engine takes it from the same jet as the
    Hessian (a tangent v, pairs (v, e_i), (v, v) and triples (v, v, e_i) more)."""
    want = frozenset(name for name, on in (("jacobian", jacobian), ("laplacian", laplacian),
                                           ("hessian", hessian), ("third", third_along is not None)) if on)
    vectors = () if third_along is None else (third_along,)
    request = make_request(_call("derivatives"), "derivatives", model, x, vectors=vectors, want=want,
                           options=options)
    out = engines.run(request, method)
    return Derivatives(*(request.unflatten(out.get(name)) for name in Derivatives._fields))


ARGUMENTS = {"hvp": {"v"}, "directional": {"vs"}, "directional_grad": {"vs", "w"},
                      "dim_derivative": {"k"}, "derivatives": {"jacobian", "laplacian", "hessian", "third_along"}}
_REQUIRED = {"hvp": {"v"}, "directional": {"vs"}, "directional_grad": {"vs"}}


def explain(model: nn.Module, x: Tensor, quantity: str = "laplacian", **kwargs: Any) -> engines.Choice:
    """What ``method="auto"`` would choose for ``quantity`` and the estimated cost of each engine.

    kwargs are the quantity's own arguments, checked and defaulted as the call itself does
    (``v`` for hvp, ``vs`` for directional, ``vs`` and ``w`` for directional_grad, ``k`` for
    dim_derivative, the flags of derivatives). ``print(hp.explain(model, x, "hessian"))`` shows the ranking.
    """
    return engines.choose(request_for(f"hp.explain(model, x, {quantity!r})", quantity, model, x, kwargs))


def request_for(call: str, quantity: str, model: nn.Module, x: Tensor, kwargs: dict[str, Any],
                options: dict[str, Any] | None = None) -> Request:
    """The checked request of ``hp.<quantity>(model, x, **kwargs)`` (kwargs: the quantity's own
    arguments by name, as :func:`explain` takes them; options: engine options)."""
    if quantity not in QUANTITIES:
        raise ValueError(f"{call}: unknown quantity; expected one of {QUANTITIES}")
    allowed = ARGUMENTS.get(quantity, set())
    unknown, missing = set(kwargs) - allowed, _REQUIRED.get(quantity, set()) - set(kwargs)
    if unknown or missing:
        raise TypeError(f"{call}: {quantity} takes {sorted(allowed) or 'no arguments'}; "
                        + (f"unknown {sorted(unknown)}" if unknown else f"missing {sorted(missing)}"))
    vectors: tuple[Tensor, ...] = ()
    if "v" in kwargs:
        vectors = (kwargs["v"],)
    elif "vs" in kwargs:
        vectors = _directions(call, kwargs["vs"])
    elif kwargs.get("third_along") is not None:
        vectors = (kwargs["third_along"],)
    order = check_order(call, kwargs.get("k", 1)) if quantity == "dim_derivative" else 0
    flags = {"jacobian": True, "laplacian": True, "hessian": False} | kwargs
    flags["third"] = flags.get("third_along") is not None
    want = frozenset(k for k in ("jacobian", "laplacian", "hessian", "third") if flags[k]) \
        if quantity == "derivatives" else frozenset()
    weight = kwargs.get("w")
    request = make_request(call, quantity, model, x, vectors=vectors, weight=weight, order=order, want=want,
                           options=options)
    return _with_weight(request) if quantity == "directional_grad" else request
