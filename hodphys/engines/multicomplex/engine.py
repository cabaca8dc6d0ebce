"""The multicomplex (HoD-Net) engine: every quantity from perturbed forward passes and CSFD-BP.

Right contractions ∇ⁿf·(v₁⊗…⊗vₙ) come from one order-n perturbation whose units are scaled by
v₁..vₙ (adjoint perturbation); left contractions wᵀ∇ⁿ⁺¹f come from seeding the backward pass
with w and backpropagating the perturbed network (CSFD-BP), so a contracted derivative costs
the same at every order. Which direction is cheaper (forward with P perturbations, or
backward with S seeds) is decided per request from d and m, as the HoD-Net paper prescribes.

Option ``h``: the complex step (default 0: the exact multidual limit, where the collapsed
forms apply). h > 0 runs second- and higher-order quantities in finite-step multicomplex
arithmetic (forward perturbations, no collapsed forms or order-1 CSFD-BP), which differs from
h = 0 by O(h²); the real part stays the real network's, so the h² terms enter only through
products of imaginary parts across layers. First-order quantities are exact for every h: asking
for them with h > 0 is an error, not a silent no-op.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from hodphys.engines import cost
from hodphys.engines.registry import register_engine
from hodphys.engines.multicomplex.algebra import check_step
from hodphys.engines.multicomplex.jet import Jet, SecondOrderJet
from hodphys.engines.multicomplex.rules import compile_model
from hodphys.nn.compose import run_adjoint, run_rules
from hodphys.request import Request
from hodphys.shapes import broadcast_shape


_forward, _backward = run_rules, run_adjoint


def _rules(request: Request) -> list:
    """The model's rules, keyed by the leaves the request walked once."""
    return compile_model(request.model, layers=request.layers)


def _eye(request: Request, size: int) -> Tensor:
    return torch.eye(size, dtype=request.x.dtype, device=request.x.device)


def _perturbed(request: Request, units: Sequence[Tensor], h: float) -> Jet:
    """x + h Σ_k i_k v_k for P perturbations; units[k] is (P, N or 1, d)."""
    order = len(units)
    shape = broadcast_shape(*(u.shape for u in units)) if units else (1, 1, request.d)
    imag = request.x.new_zeros(((1 << order) - 1, *shape))
    for k, v in enumerate(units):
        imag[(1 << k) - 1] = v
    return Jet(request.x, imag, order, h)


def _seeds(weights: Tensor, order: int) -> Jet:
    """Adjoint seeds (S, N or 1, m) with zero imaginary part, for a Jet of the given order."""
    m = weights.shape[-1]
    return Jet(weights, weights.new_zeros(((1 << order) - 1, 1, 1, 1, m)), order, 0.0)


def _batch(t: Tensor, n: int) -> Tensor:
    """Give a result computed with broadcast batch axis 0 the full batch size N."""
    return t.expand(n, *t.shape[1:])


class MulticomplexEngine:
    """HoD-Net: CR-form multicomplex forward passes, adjoint perturbation and CSFD-BP."""

    name = "multicomplex"
    options = frozenset({"h"})

    def unsupported(self, request: Request) -> str | None:
        try:
            _rules(request)
        except NotImplementedError as err:
            return str(err)
        if request.quantity in ("dim_derivative", "divergence") and request.m != request.d:
            return f"{request.quantity} needs m == d, the model has m={request.m}, d={request.d}"
        if "third" in request.want:
            return ("derivatives(third_along=…) is computed by method='analytic-forward' or 'autograd' "
                    "(here: hp.directional with vs=[v, v, e_i])")
        return None

    def _h(self, request: Request, order: int) -> float:
        return check_step(request.options.get("h", 0.0), order, request.x.dtype)

    def _refuse_step(self, request: Request, what: str) -> None:
        """ValueError for h > 0 where it cannot act: order-1 steps are exact for every h (the real
        part is kept at the real network, so no h² term reaches a first derivative)."""
        h = request.options.get("h", 0.0)
        if check_step(h, 1, request.x.dtype) > 0:
            raise ValueError(
                f"{request.call}: method='multicomplex' with h={h}: {what} come from first-order steps, which "
                f"are exact for every h, so h would have no effect; drop h, or use it where it acts "
                f"(second and higher orders: hp.laplacian, hp.hessian, hp.hvp, hp.directional with ≥ 2 "
                f"directions, hp.directional_grad with ≥ 2, hp.dim_derivative with k ≥ 2)")

    # --- cost model (hodphys.engines.cost): rows pushed through the network, and tensor ops issued ----
    def cost(self, request: Request) -> float:
        d, m, n = request.d, request.m, len(request.vectors)
        pairs = d * (d + 1) // 2
        units = {
            "jacobian": 1 + d if d <= m else 2 * (1 + m),
            "hessian": min(1 + d + pairs, (1 + d) * (1 + 2 * m)),
            "laplacian": d + 2,
            "hvp": min(2 * (1 + 2 * m), 1 + 2 * d),
            "directional": 2 ** n,
            "directional_grad": 3 * 2 ** n,
            "dim_derivative": d * (2 ** request.order - 1) + 1,
            "divergence": 1 + d,
            "derivatives": (1 + d + pairs if "hessian" in request.want
                            else d + 2 if "laplacian" in request.want else 1 + d),
        }[request.quantity]
        order = {"directional": n, "directional_grad": n, "dim_derivative": request.order,
                 "jacobian": 1, "divergence": 1}.get(request.quantity, 2)
        sweeps = 2 if request.quantity in ("directional_grad", "hvp") else 1
        sizes = cost.network_sizes(request.model, request.d)
        # multicomplex products issue ~3·2ⁿ ops per σ (component table), linear maps a few
        return cost.sweep(request.n_batch, units, sizes) + cost.launches(sizes, sweeps, 4 + 3 * 2 ** order)

    # --- first order ----------------------------------------------------------------------
    def jacobian(self, request: Request) -> Tensor:
        self._refuse_step(request, "Jacobians")
        return self._jacobian(request)

    def _jacobian(self, request: Request) -> Tensor:
        rules, d, m = _rules(request), request.d, request.m
        if d <= m:  # forward: one perturbation per input direction
            out, _ = _forward(rules, _perturbed(request, [_eye(request, d).unsqueeze(1)], 0.0))
            return _batch(out.imag[0].permute(1, 2, 0), request.n_batch)
        out, saved = _forward(rules, _perturbed(request, [], 0.0), save=True)  # backward: m seeds
        adjoint = _backward(rules, saved, _seeds(_eye(request, m).unsqueeze(1), 0))
        return _batch(adjoint.real.permute(1, 0, 2), request.n_batch)

    def divergence(self, request: Request) -> Tensor:
        self._refuse_step(request, "divergences")
        return self._jacobian(request).diagonal(dim1=-2, dim2=-1).sum(-1)

    # --- second order ---------------------------------------------------------------------
    def _csfd_bp(self, request: Request, units: Sequence[Tensor], weights: Tensor) -> Jet:
        """Forward with perturbation units, backward seeded by weights (S, N or 1, m)."""
        order = len(units)
        rules = _rules(request)
        out, saved = _forward(rules, _perturbed(request, units, self._h(request, order)), save=True)
        seeds = _seeds(weights, order)
        adjoint = _backward(rules, saved, Jet(seeds.real, seeds.imag, order, out.h))
        # an affine network leaves the zero imaginary seed broadcast: give it its full (C−1, P, S, ·, d)
        p = max(unit.shape[0] for unit in units)
        imag = adjoint.imag.expand(adjoint.imag.shape[0], p, *adjoint.real.shape)
        return Jet(adjoint.real, imag, order, adjoint.h)

    def _pairs(self, request: Request) -> tuple[Tensor, Tensor]:
        return tuple(torch.triu_indices(request.d, request.d, device=request.x.device))

    def _second_order(self, request: Request, pairs) -> SecondOrderJet:
        first = _eye(request, request.d).unsqueeze(1)
        state = SecondOrderJet(request.x, first, None, pairs)
        return _forward(_rules(request), state)[0]

    def _symmetric(self, request: Request, upper: Tensor) -> Tensor:
        """(r, N, m) values at the pairs i ≤ j → (N, m, d, d)."""
        a, b = self._pairs(request)
        d, n = request.d, request.n_batch
        upper = _batch(upper.permute(1, 2, 0), n)
        hess = upper.new_zeros((n, upper.shape[1], d, d))
        hess[..., a, b] = upper
        hess[..., b, a] = upper
        return hess

    def hessian(self, request: Request) -> Tensor:
        d, m, h = request.d, request.m, self._h(request, 2)
        if 2 * m < d and h == 0:  # CSFD-BP: d order-1 perturbations forward, m seeds backward (exact at any h)
            adjoint = self._csfd_bp(request, [_eye(request, d).unsqueeze(1)], _eye(request, m).unsqueeze(1))
            return _batch(adjoint.imag[0].permute(2, 1, 0, 3), request.n_batch)
        pairs = self._pairs(request)
        if h == 0:
            return self._symmetric(request, self._second_order(request, pairs).second_or_zeros())
        eye = _eye(request, d)
        out, _ = _forward(_rules(request),
                          _perturbed(request, [eye[pairs[0]].unsqueeze(1), eye[pairs[1]].unsqueeze(1)], h))
        return self._symmetric(request, out.top())

    def laplacian(self, request: Request) -> Tensor:
        h = self._h(request, 2)
        if h == 0:
            return _batch(self._second_order(request, None).second_or_zeros(), request.n_batch)
        eye = _eye(request, request.d).unsqueeze(1)
        out, _ = _forward(_rules(request), _perturbed(request, [eye, eye], h))
        return _batch(out.top().sum(0), request.n_batch)

    def hvp(self, request: Request) -> Tensor:
        d, m, v = request.d, request.m, request.vectors[0].unsqueeze(0)
        if 2 * m <= 3 * d and self._h(request, 2) == 0:  # CSFD-BP: one order-1 perturbation along v, m seeds
            adjoint = self._csfd_bp(request, [v], _eye(request, m).unsqueeze(1))
            return _batch(adjoint.imag[0, 0].permute(1, 0, 2), request.n_batch)
        units = [v, _eye(request, d).unsqueeze(1)]  # forward: d perturbations (v, e_j)
        out, _ = _forward(_rules(request), _perturbed(request, units, self._h(request, 2)))
        return _batch(out.top().permute(1, 2, 0), request.n_batch)

    # --- any order ------------------------------------------------------------------------
    def directional(self, request: Request) -> Tensor:
        if len(request.vectors) == 1:
            self._refuse_step(request, "directional derivatives along one direction")
        units = [v.unsqueeze(0) for v in request.vectors]
        state = _perturbed(request, units, self._h(request, len(units)))
        out, _ = _forward(_rules(request), state)
        return _batch(out.top()[0], request.n_batch)

    def directional_grad(self, request: Request) -> Tensor:
        if len(request.vectors) == 1:
            self._refuse_step(request, "gradients of one-direction derivatives (CSFD-BP of order 1)")
        units = [v.unsqueeze(0) for v in request.vectors]
        adjoint = self._csfd_bp(request, units, request.weight.unsqueeze(0))
        return _batch(adjoint.top()[0, 0], request.n_batch)

    def dim_derivative(self, request: Request) -> Tensor:
        k = request.order
        if k == 1:
            self._refuse_step(request, "first dimension-wise derivatives")
        units = [_eye(request, request.d).unsqueeze(1)] * k
        out, _ = _forward(_rules(request), _perturbed(request, units, self._h(request, k)))
        return _batch(out.top().diagonal(dim1=0, dim2=-1), request.n_batch)

    def derivatives(self, request: Request) -> dict[str, Tensor]:
        want, n = request.want, request.n_batch
        if not want & {"hessian", "laplacian"}:
            self._refuse_step(request, "values and Jacobians")
        if self._h(request, 2) > 0 or not want & {"hessian", "laplacian"}:  # h acts on the second order
            out = {"value": request.model(request.x)}
            for name in want:
                out[name] = (self._jacobian if name == "jacobian" else getattr(self, name))(request)
            return out
        pairs = self._pairs(request) if "hessian" in want else None
        state = self._second_order(request, pairs)
        out = {"value": state.real}
        if "jacobian" in want:
            out["jacobian"] = _batch(state.first.permute(1, 2, 0), n)
        if pairs is None:
            out["laplacian"] = _batch(state.second_or_zeros(), n)
        else:
            hess = self._symmetric(request, state.second_or_zeros())
            out["hessian"] = hess
            if "laplacian" in want:
                out["laplacian"] = hess.diagonal(dim1=-2, dim2=-1).sum(-1)
        return out


register_engine(MulticomplexEngine())
