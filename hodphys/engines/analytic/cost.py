"""Cost model of the analytic engines in the shared currency of :mod:`hodphys.engines.cost`.

From the rules: L (linear multiply-adds per row), E (σ-site width), the layer count; from the
request: N, d, m, the quantity and its order. The forward mode pushes K = 1 + P + R rows
(value, tangents, second rows); the backward mode a tangent sweep plus S-seed adjoint sweeps
and the site contractions; a factored first layer (d > w₁) runs on the value row only and
adds the map back to x.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

from hodphys.engines.analytic import replay
from hodphys.engines.analytic.jet import keeps_derivatives, use_outer
from hodphys.engines.rules import LinearRule
from hodphys.engines.cost import ELEMENTWISE, Sizes, launches, sweep
from hodphys.request import Request

# the price of a layer's ops, in launches: a forward sweep of value and tangents, the second-order
# rows on top of it, and backward mode's tangent sweep with its adjoint sweep and site bookkeeping;
# and an adjoint row of a curvature sweep (σ′ and σ″ products per site and seed) in forward rows.
# Fitted to hessQuik's timing sweep (batch 10 and 1000, d = 1…128, m = 1 and 8): auto then runs
# the faster mode in all of its 28 cells, and in a neighbourhood of these values too.
FIRST_ORDER_OPS = 6
SECOND_ORDER_OPS = 6
BACKWARD_OPS = 10
CURVATURE_ADJOINT_ROW = 8.0
RECOMPUTE_OPS = 3  # σ, σ′, σ″ evaluated again by the adjoint where the forward sweep did not keep them
# a replayed run (hodphys.engines.analytic.replay, small batches) issues the same ops without the engine's Python
# around them: measured on hessQuik's batch-10 sweep, about half the price per op
REPLAYED_LAUNCH = 0.5


def _sweep(n: int, rows: float, linear: float, sites: float) -> float:
    return sweep(n, rows, Sizes(linear, sites, 0))


def _forward_rows(request: Request, p: int) -> float:
    """Rows K of the forward jet for each quantity (value + tangents + second rows)."""
    q, d, n_vs = request.quantity, request.d, len(request.vectors)
    want = request.want
    pairs = p * p if use_outer(request.n_batch, p) else p * (p + 1) / 2  # the engine's choice of pairs
    return {
        "jacobian": 1 + p, "divergence": 1 + p, "laplacian": 2 + p, "hessian": 1 + p + pairs,
        "hvp": 2 + 2 * p, "directional_grad": 2 + 2 * p,
        "directional": 1 + n_vs + n_vs * (n_vs - 1) / 2 + (n_vs == 3),  # tangents, pairs, the triple
        "dim_derivative": 1 + request.order * d,
        "derivatives": _derivative_rows(want, p, pairs),
    }[q]


def _derivative_rows(want: frozenset[str], p: int, pairs: float) -> float:
    """Rows of hp.derivatives' jet; third_along adds a tangent v, pairs (v, c_j), (v, v) and triples
    (v, v, c_j), and takes a Laplacian from the Hessian's pairs."""
    third = "third" in want
    hessian = "hessian" in want or (third and "laplacian" in want)
    rows = 1 + p + pairs if hessian else 2 + p if "laplacian" in want else 1 + p
    return rows + (2 + 2 * p if third else 0)


def _second_rows(request: Request) -> bool:
    """Whether the forward jet of the request carries second-order rows."""
    q = request.quantity
    if q == "directional":
        return len(request.vectors) >= 2
    if q == "dim_derivative":
        return request.order >= 2
    if q == "derivatives":
        return bool(request.want & {"hessian", "laplacian", "third"})
    return q in ("hessian", "laplacian", "hvp", "directional_grad")


def _saved_tangents(request: Request, p: int) -> int:
    """Tangent rows of the jets a backward sweep saves: p for a curvature sweep (Hessian,
    Laplacian), one per vector for a reversed directional jet, none for a Jacobian."""
    q = request.quantity
    if q in ("hvp", "directional_grad"):
        return len(request.vectors)
    if q in ("hessian", "laplacian") or (q == "derivatives" and request.want & {"hessian", "laplacian"}):
        return p
    return 0


def _backward_terms(request: Request, p: int, m: int, linear: float, sites: float) -> float:
    """Forward and adjoint sweeps plus contractions of backward mode."""
    q, n, want = request.quantity, request.n_batch, request.want
    if q in ("jacobian", "divergence") or (q == "derivatives" and not want & {"hessian", "laplacian"}):
        return _sweep(n, 1, linear, sites) + _sweep(n, m, linear, sites)
    if q in ("hvp", "directional_grad"):
        k = 1 + len(request.vectors) + (len(request.vectors) == 2)
        seeds = m if q == "hvp" else 1
        return _sweep(n, k, linear, sites) + 2 * _sweep(n, seeds * k, linear, sites)
    if q == "hessian" or "hessian" in want:
        # per site entry and output: the scaled copy Dz ⊙ c (p entries, elementwise) and its batched
        # GEMM with Dz (p² multiply-adds, long inner axis: half the price of a sweep's)
        contraction = n * m * sites * p * (p + ELEMENTWISE) / 2
    else:
        contraction = n * m * sites * p
    return _sweep(n, 1 + p, linear, sites) + CURVATURE_ADJOINT_ROW * _sweep(n, m, linear, sites) + contraction


def analytic_cost(request: Request, rules: Sequence[Any], mode: str) -> float:
    """Estimated multiply-adds of ``request`` in the given mode ("forward" or "backward")."""
    linear = float(sum(r.shape.linear for r in rules))
    sites = float(sum(r.shape.sites for r in rules))
    d, m, n = request.d, rules[-1].shape.width or request.d, request.n_batch
    p = d
    if isinstance(rules[0], LinearRule):  # the sweep starts at z₁: the first map runs on the value row
        p = min(d, rules[0].module.out_features)
        linear -= rules[0].shape.linear * (1 - 1 / max(_forward_rows(request, p), 1))
    if mode == "forward":
        rows = _forward_rows(request, p)
        work = _sweep(n, rows, linear, sites)
        ops = FIRST_ORDER_OPS + (SECOND_ORDER_OPS if _second_rows(request) else 0)
    else:
        work = _backward_terms(request, p, m, linear, sites)
        widest = max(r.shape.sites for r in rules) * n * request.x.element_size()
        ops = BACKWARD_OPS + (0 if keeps_derivatives(_saved_tangents(request, p), widest) else RECOMPUTE_OPS)
    if p < d and request.quantity in ("hessian", "derivatives"):
        work += n * m * (d * d * p + d * p * p)  # H = Bᵀ H_c B
    price = REPLAYED_LAUNCH if replay.ENABLED and n <= replay.MAX_BATCH else 1.0
    return work + price * launches(Sizes(linear, sites, len(rules)), 1, ops)
