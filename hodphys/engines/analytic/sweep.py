"""The sweeps both analytic modes are built from: where to start, forward, backward, contraction.

Glossary: N batch, d input dim, m outputs, p the number of tangent directions (d, or the first
layer's width w₁ when it is factored), S adjoint seeds, W the total width of curvature sites.

Starting after the first layer: a network that opens with z₁ = W₁x + b₁ starts its tangent
sweep at z₁, whose tangents are the same for every sample (the rows of W₁ᵀ, or of R below):
they are broadcast, not pushed through an (N·p, d) × (d, w₁) matmul.

Factoring the first layer (issue: cost ∝ min(d, w₁)): when d > w₁ the tangents start at z₁
along w₁ directions c_j (instead of the d columns of W₁) and a result in those coordinates maps
back with a B (w₁, d) such that W₁ = Cᵀ B:

* for J, H, hvp: c_j = e_j and B = W₁ (J = J_c W₁, H = W₁ᵀ H_c W₁) — nothing to factor;
* for a Laplacian read off the tangent rows, which is never mapped back, the directions must
  satisfy Σ_j c_j c_jᵀ = W₁W₁ᵀ: W₁ᵀ = QR (reduced QR, R (w₁, w₁)), c_j the rows of R and
  B = Qᵀ (then also J = J_c B, H = Bᵀ H_c B, B with orthonormal rows).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence

import torch
from torch import Tensor

from hodphys.engines.analytic.adjoint import Adjoint
from hodphys.engines.analytic.jet import Jet
from hodphys.engines.rules import LinearRule
from hodphys.nn.access import parameter
from hodphys.nn.compose import run_adjoint, run_rules
from hodphys.request import Request
from hodphys.scalars import transforms_active


@dataclass(frozen=True)
class Start:
    """Run ``rules`` from x (N, w) with tangent rows ``directions`` (p, w) shared by all samples.

    ``back`` (p, d) maps results in tangent coordinates to x (None: they are x's coordinates);
    ``first`` is W₁ when the sweep starts at z₁ (an input direction v becomes W₁v there).
    """

    rules: Sequence[Any]
    x: Tensor
    directions: Tensor
    back: Tensor | None
    first: Tensor | None

    def lift(self, v: Tensor) -> Tensor:
        """An input direction v (·, d) where the sweep starts."""
        return v if self.first is None else torch.nn.functional.linear(v, self.first)


def factorable(rules: Sequence[Any], d: int) -> bool:
    """True when the network opens with a linear layer narrower than its input."""
    return isinstance(rules[0], LinearRule) and rules[0].module.out_features < d


def start(request: Request, rules: Sequence[Any], trace: bool = False) -> Start:
    """Where the tangent sweep begins: after an opening linear layer (factored when d > w₁), else at x.

    ``trace``: a Laplacian will be summed from the tangent rows (module doc: then the factored
    directions come from a QR of W₁)."""
    x = request.x
    if not isinstance(rules[0], LinearRule):
        return Start(rules, x, torch.eye(request.d, dtype=x.dtype, device=x.device), None, None)
    first = rules[0].module
    weight, bias = parameter(first, "weight"), parameter(first, "bias")
    z = torch.nn.functional.linear(x, weight, bias)
    if factorable(rules, request.d):
        if trace:
            q, r = torch.linalg.qr(weight.t())  # W₁ᵀ = QR: (d, w₁), (w₁, w₁)
            return Start(rules[1:], z, r, q.t(), weight)
        eye = torch.eye(weight.shape[0], dtype=x.dtype, device=x.device)
        return Start(rules[1:], z, eye, weight, weight)
    return Start(rules[1:], z, weight.t(), None, weight)


def forward(rules: Sequence[Any], jet: Jet, save: bool = False) -> tuple[Jet, list]:
    """Run the rules on a jet; with ``save``, keep what each rule's backward needs.

    Without ``save``, σ may work in place (``Jet.scratch``).
    """
    jet.scratch = not save
    start = [jet]
    del jet  # the rules' sweep holds the only reference: the seed rows are freed after the first layer
    out, saved = run_rules(rules, start.pop(), save)
    if not out.owned and out.rows is not None:  # no rule ran: the rows are still views of W₁ᵀ or x
        out = out._like(out.value, out.rows.clone())  # a jet of the sweep's own, owned
    return out, saved


def seeds(weights: Tensor, rows: int, row: int) -> Adjoint:
    """Adjoint with weights (S, m) or (S, N, m) on jet row ``row`` of ``rows``, zero elsewhere."""
    if weights.ndim == 2:
        weights = weights.unsqueeze(1)
    if rows == 1:
        return Adjoint(weights.unsqueeze(1))
    out = weights.new_zeros((weights.shape[0], rows, *weights.shape[1:]))
    out[:, row] = weights
    return Adjoint(out)


def output_seeds(rules: Sequence[Any], m: int, like: Tensor) -> tuple[Sequence[Any], Adjoint]:
    """The m output seeds e_k as value-only adjoints, and the rules they still have to go back through.

    After a closing linear layer W (m, w) the seeds' adjoints are W's rows (e_kᵀW is row k of W, a
    view: the m × m × w GEMM eye·W is skipped, exactly) and the rules are the ones before it; with a
    single rule or another closing layer, eye(m) and all the rules."""
    if len(rules) > 1 and isinstance(rules[-1], LinearRule):
        weight = parameter(rules[-1].module, "weight")
        return rules[:-1], Adjoint(weight.reshape(m, 1, 1, weight.shape[1]))
    return rules, seeds(torch.eye(m, dtype=like.dtype, device=like.device), 1, 0)


STACK_BYTES = 1 << 16  # sites are contracted at once while their scaled tangents (m copies) stay below this


class Curvature:
    """Accumulates the curvature sites an adjoint sweep meets and contracts them.

    At a site with tangents Dz (p, N, w) and weights c = σ″(z) ⊙ ḡ (m, 1, N, w), the Hessian
    (N, m, p, p) gains Dzᵀ diag(c) Dz, the Laplacian (N, m) gains Σ_w c_w ‖Dz_w‖². The Hessian
    term is one batched matmul, (Dz ⊙ c) (N, m·p, w) @ Dzᵀ (N, w, p): the m outputs are stacked
    into the rows so no operand is broadcast (a broadcast batched matmul copies its expanded
    operand) and no (N, w, w, ·) or (N, d, d, w) outer products are formed.

    Small sites (a batch of 10, say) are kept and contracted together, concatenated along w:
    one contraction instead of one per site, where each tensor op costs more than its
    arithmetic. Once the m scaled copies of the kept tangents would pass :data:`STACK_BYTES`
    they are contracted, so a copy of all of them is never made.
    """

    def __init__(self, hessian: bool):
        self.hessian, self.total = hessian, None
        self.pending: list[tuple[Tensor, Tensor]] = []
        self.pending_bytes = 0

    def append(self, site: tuple[Tensor, Tensor]) -> None:
        dz, c = site
        self.pending.append(site)
        self.pending_bytes += dz.numel() * dz.element_size() * c.shape[0]  # the m-fold scaled copy
        if self.pending_bytes > STACK_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        pending, self.pending, self.pending_bytes = self.pending, [], 0
        if len(pending) == 1:
            dz, c = pending[0]
        else:  # the sites' tangents are views of saved rows: let those go before the weights' copy
            tangents, weights = zip(*pending)
            del pending
            dz = torch.cat(tangents, -1)
            del tangents
            c = torch.cat(weights, -1)
            del weights
        if not self.hessian:
            term = (c[:, 0] * (dz * dz).sum(0)).sum(-1).t()
            self.total = term if self.total is None else self.total + term
            return
        self.total = self._contract(dz, c, self.total)

    @staticmethod
    def _contract(dz: Tensor, c: Tensor, total: Tensor | None) -> Tensor:
        """total + Σ_w dz c dzᵀ for dz (p, N, w), c (m, 1, N, w): (N, m, p, p). A total of that
        shape that needs no graph takes the product in place (baddbmm_): no new (N, m, p, p)
        tensor and no pass to add it, per site."""
        m, (p, n, w) = c.shape[0], dz.shape
        dz = dz.transpose(0, 1)  # (N, p, w)
        if m == 1:  # (N, p, w) ⊙ (N, 1, w): no m axis to fold into the rows
            scaled = dz * c.reshape(n, 1, w)
        else:
            scaled = (dz.unsqueeze(1) * c.permute(2, 0, 1, 3)).reshape(n, m * p, w)
        if total is not None and total.shape == (n, m, p, p) and total.is_contiguous() and not (
                torch.is_grad_enabled() and (total.requires_grad or scaled.requires_grad)) and not transforms_active():
            total.view(n, m * p, p).baddbmm_(scaled, dz.transpose(1, 2))
            return total
        term = torch.bmm(scaled, dz.transpose(1, 2)).view(n, m, p, p)
        return term if total is None else total + term

    def result(self, n: int, m: int, p: int, like: Tensor) -> Tensor:
        """The Hessian (N, m, p, p) or Laplacian (N, m); zeros if the network is affine."""
        self._flush()
        if self.total is None:
            return like.new_zeros((n, m, p, p) if self.hessian else (n, m))
        return self.total if self.total.shape[0] == n else self.total.expand(n, *self.total.shape[1:])


def curvature(start_: Start, m: int, hessian: bool, output: bool = True) -> tuple[Jet | None, Tensor]:
    """Forward tangents along the start directions, then m value-only adjoints contracting the sites.

    Returns the output jet (value and Jacobian rows) and the Hessian (N, m, p, p) in start
    coordinates, or the Laplacian (N, m). Without ``output`` a closing linear layer is not run
    forward (its adjoint needs nothing from it: :func:`output_seeds`) and the jet returned is None.
    """
    back, adjoint = output_seeds(start_.rules, m, start_.x)
    out, saved = forward(start_.rules if output else back, Jet.seed(start_.x, start_.directions), save=True)
    del saved[len(back):]  # a closing linear layer's (it keeps nothing)
    adjoint.sites = Curvature(hessian)
    run_adjoint(back, saved, adjoint)
    return (out if output else None), adjoint.sites.result(start_.x.shape[0], m, start_.directions.shape[0], start_.x)


def batch_first(t: Tensor) -> Tensor:
    """Rows (K, N, m) → (N, m, K), the layout results are returned in."""
    return t.permute(1, 2, 0)


def to_input(start_: Start, t: Tensor) -> Tensor:
    """Map (…, p) results in start coordinates to (…, d) (a no-op unless the first layer is factored)."""
    return t if start_.back is None else t @ start_.back


def hessian_to_input(start_: Start, h: Tensor) -> Tensor:
    """H = Bᵀ H_c B for a factored start, as (H_c B)ᵀ B (H_c is symmetric): both products are
    batch-by-matrix, one GEMM each, where B on the left would be broadcast and copied."""
    return h if start_.back is None else (h @ start_.back).transpose(-1, -2) @ start_.back


def symmetric(upper: Tensor, pairs: tuple[Tensor, Tensor], p: int) -> Tensor:
    """Second rows (R, N, m) at the pairs a ≤ b → (N, m, p, p), written by two index_copy_ on
    the flattened last axes (advanced-index assignment is several times slower)."""
    a, b = pairs
    upper = batch_first(upper)
    h = upper.new_zeros((*upper.shape[:2], p * p))
    h.index_copy_(2, a * p + b, upper)
    h.index_copy_(2, b * p + a, upper)
    return h.unflatten(2, (p, p))
