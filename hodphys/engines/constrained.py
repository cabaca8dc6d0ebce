"""Derivatives of a hard-constrained model u = g(x) + ℓ(x)·N(x) (:class:`hodphys.nn.HardConstraint`).

N's derivatives come from any engine (``method``, or the cheapest for N with ``"auto"``); g and ℓ are
the user's closed-form functions of x, differentiated exactly by torch.func (nested ``jacfwd`` on one
sample, vmapped: their Taylor tensors cost O(d^n) per sample, nothing next to N's). The results are
combined by the Leibniz rule, per output k (ℓ, N, g of output k; ⊗ outer product):

    ∇u   = ∇g + ℓ∇N + N∇ℓ
    ∇²u  = ∇²g + ℓ∇²N + ∇ℓ⊗∇N + ∇N⊗∇ℓ + N∇²ℓ            Δu = Δg + ℓΔN + 2∇ℓ·∇N + NΔℓ
    Dⁿ(ℓN)[v₁..vₙ] = Σ_{S ⊆ {1..n}} D^{n−|S|}ℓ[v_{∖S}] · D^{|S|}N[v_S]

Glossary: N batch (flattened), d inputs, m outputs, n order. ``method="autograd"`` differentiates the
whole model by torch.func instead (the reference these are tested against).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import jacfwd, vmap

from hodphys.engines import registry
from hodphys.nn.compose import leaf_structure
from hodphys.nn.transforms import HardConstraint
from hodphys.request import Request

Taylor = list[Tensor]  # [f (N, m), ∇f (N, m, d), ∇²f (N, m, d, d), …]


def taylor(model: HardConstraint, fn: Callable, x: Tensor, order: int) -> Taylor:
    """g or ℓ (broadcast to (N, m)) and its derivative tensors up to ``order``, by torch.func."""
    def one(z: Tensor) -> Tensor:  # (d,) → (m,)
        return model.broadcast(fn(z[None]), z[None])[0]

    fns = [one]
    for _ in range(order):
        fns.append(jacfwd(fns[-1]))
    return [vmap(f)(x) for f in fns]


def contract(t: Tensor, vectors: tuple[Tensor, ...]) -> Tensor:
    """t (N, m, d, …, d) with one d axis per vector, each vector (1 or N, d) → (N, m)."""
    for v in reversed(vectors):
        t = (t * v.unsqueeze(1).reshape(v.shape[0], *([1] * (t.ndim - 2)), v.shape[1])).sum(-1)
    return t


class ProductRule:
    """The quantities of u = g + ℓ·N from N's by ``method`` (an engine name or "auto")."""

    QUANTITIES = frozenset({"jacobian", "hessian", "laplacian", "hvp", "directional", "directional_grad",
                            "dim_derivative", "divergence", "derivatives"})

    def __init__(self, method: str):
        self.method = method
        self.name = f"{method} + product rule"
        self.options = registry.ENGINES[method].options if method in registry.ENGINES else frozenset()

    # --- N's derivatives, by the engine -------------------------------------------------------------
    @staticmethod
    def inner(request: Request, quantity: str, **changes) -> Request:
        net = request.model.net
        changes = {"weight": None} | changes  # N's quantities are unweighted (the weight acts on u)
        return dataclasses.replace(request, model=net, quantity=quantity, layers=leaf_structure(net),
                                   options=dict(request.options), **changes)

    def _net(self, request: Request, quantity: str, **changes):
        return registry.run(self.inner(request, quantity, **changes), self.method)

    def unsupported(self, request: Request) -> str | None:
        """Why N's engine cannot serve what the product rule asks of it (None if it can)."""
        if "third" in request.want:
            return "the product rule of a HardConstraint stops at second order (derivatives(third_along=…))"
        if self.method == "auto":
            return None
        engine = registry.ENGINES[self.method]
        for quantity, changes in self.needs(request):
            why = registry.serves(engine, self.inner(request, quantity, **changes))
            if why is not None:
                return f"{why} (asked of HardConstraint.net)"
        return None

    @staticmethod
    def needs(request: Request) -> list[tuple[str, dict]]:
        q, n = request.quantity, len(request.vectors)
        if q in ("directional", "directional_grad"):
            extra = 1 if q == "directional_grad" else 0
            return [("directional", {"vectors": request.vectors[:k] + (request.x[:1],) * extra})
                    for k in range(1, n + 1)]
        if q == "dim_derivative":
            return [("dim_derivative", {"order": k}) for k in range(1, request.order + 1)]
        want = {"hessian": {"jacobian", "hessian"}, "laplacian": {"jacobian", "laplacian"},
                "derivatives": request.want | ({"jacobian"} if request.want else set())}.get(q, {"jacobian"})
        return [("derivatives", {"want": frozenset(want)})] + ([("hvp", {})] if q == "hvp" else [])

    def compute(self, request: Request):
        return getattr(self, request.quantity)(request)

    def _parts(self, request: Request, want: set[str], order: int = 1) -> tuple[dict, Taylor, Taylor]:
        """N's value and ``want`` (plus ∇N) by the engine; g's and ℓ's Taylor tensors to ``order``
        (2 where a Hessian or Laplacian is wanted)."""
        order = 2 if want & {"hessian", "laplacian"} else order
        net = self._net(request, "derivatives", want=frozenset(want | {"jacobian"}))
        m, x = request.model, request.x
        return net, taylor(m, m.offset, x, order), taylor(m, m.factor, x, order)

    # --- the quantities -----------------------------------------------------------------------------
    def derivatives(self, request: Request) -> dict[str, Tensor]:
        want = set(request.want)
        n, g, ell = self._parts(request, want)
        value, jac = n["value"], n["jacobian"]
        out = {"value": g[0] + ell[0] * value}
        if "jacobian" in want:
            out["jacobian"] = g[1] + ell[0].unsqueeze(-1) * jac + value.unsqueeze(-1) * ell[1]
        if "hessian" in want:
            cross = ell[1].unsqueeze(-1) * jac.unsqueeze(-2)
            out["hessian"] = (g[2] + ell[0][..., None, None] * n["hessian"] + cross + cross.transpose(-1, -2)
                              + value[..., None, None] * ell[2])
        if "laplacian" in want:
            lap = n["laplacian"] if "laplacian" in n and n["laplacian"] is not None \
                else n["hessian"].diagonal(dim1=-2, dim2=-1).sum(-1)
            trace = lambda h: h.diagonal(dim1=-2, dim2=-1).sum(-1)  # noqa: E731
            out["laplacian"] = trace(g[2]) + ell[0] * lap + 2 * (ell[1] * jac).sum(-1) + value * trace(ell[2])
        return out

    def _one(self, request: Request, name: str) -> Tensor:
        return self.derivatives(dataclasses.replace(request, want=frozenset({name})))[name]

    def jacobian(self, request: Request) -> Tensor:
        return self._one(request, "jacobian")

    def hessian(self, request: Request) -> Tensor:
        return self._one(request, "hessian")

    def laplacian(self, request: Request) -> Tensor:
        return self._one(request, "laplacian")

    def divergence(self, request: Request):
        out = self.derivatives(dataclasses.replace(request, want=frozenset({"jacobian"})))
        div = out["jacobian"].diagonal(dim1=-2, dim2=-1).sum(-1)
        return (out["value"], div) if "value" in request.want else div

    def hvp(self, request: Request) -> Tensor:
        """∇²u·v = ∇²g·v + ℓ∇²N·v + ∇ℓ(∇N·v) + ∇N(∇ℓ·v) + N∇²ℓ·v, shape (N, m, d)."""
        v = request.vectors[0]
        n, g, ell = self._parts(request, {"jacobian"}, order=2)
        hv = self._net(request, "hvp")
        dot = lambda a: (a * v.unsqueeze(1)).sum(-1, keepdim=True)  # noqa: E731
        times_v = lambda h: (h * v[:, None, None, :]).sum(-1)  # noqa: E731
        jac = n["jacobian"]
        return (times_v(g[2]) + ell[0].unsqueeze(-1) * hv + ell[1] * dot(jac) + jac * dot(ell[1])
                + n["value"].unsqueeze(-1) * times_v(ell[2]))

    def directional(self, request: Request) -> Tensor:
        """Dⁿu[v₁..vₙ] by Leibniz over the subsets S of the directions that fall on N."""
        vs, model, x = request.vectors, request.model, request.x
        n = len(vs)
        g, ell = (taylor(model, f, x, n) for f in (model.offset, model.factor))
        value = self._net(request, "derivatives", want=frozenset())["value"]
        total = contract(g[n], vs) + contract(ell[n], vs) * value
        for size in range(1, n + 1):
            for picked in itertools.combinations(range(n), size):
                on_net = tuple(vs[i] for i in picked)
                rest = tuple(vs[i] for i in range(n) if i not in picked)
                total = total + contract(ell[n - size], rest) * self._net(request, "directional", vectors=on_net)
        return total

    def directional_grad(self, request: Request) -> Tensor:
        """∇ₓ(wᵀDⁿu[v…])_j = wᵀDⁿ⁺¹u[v…, e_j]: one directional per input axis, shape (N, d)."""
        eye = torch.eye(request.d, dtype=request.x.dtype, device=request.x.device)
        columns = [(request.weight * self.directional(dataclasses.replace(
            request, quantity="directional", vectors=(*request.vectors, eye[j:j + 1])))).sum(-1)
            for j in range(request.d)]
        return torch.stack(columns, -1)

    def dim_derivative(self, request: Request) -> Tensor:
        """∂ᵏu_i/∂x_iᵏ = ∂ᵏg_i + Σ_j C(k, j) ∂ʲℓ_i ∂ᵏ⁻ʲN_i (m = d), shape (N, d)."""
        k, model, x = request.order, request.model, request.x
        g, ell = (taylor(model, f, x, k) for f in (model.offset, model.factor))
        index = torch.arange(request.d, device=x.device)
        diag = lambda t: t[(slice(None),) + (index,) * (t.ndim - 1)]  # noqa: E731  (N, d)
        net = [self._net(request, "derivatives", want=frozenset())["value"]]
        net += [self._net(request, "dim_derivative", order=j) for j in range(1, k + 1)]
        return diag(g[k]) + sum(math.comb(k, j) * diag(ell[j]) * net[k - j] for j in range(k + 1))


def composite(request: Request, method: str) -> ProductRule | None:
    """The product-rule engine for a HardConstraint model (None: serve the model as it is;
    ``method="autograd"`` differentiates the whole model by torch.func)."""
    if type(request.model) is not HardConstraint or method == "autograd":
        return None
    return ProductRule(method)


registry.register_composite(composite)
