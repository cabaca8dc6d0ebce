"""The sweeps both analytic modes are built from: where to start, forward, backward, contraction.

Glossary: N batch, d input dim, m outputs, p the dimension tangents live in at the start
(d, or the first layer's width w₁ when the first layer is factored), S adjoint seeds, W the
total width of the curvature sites.

Factoring the first layer (issue: cost ∝ min(d, w₁)): when the network opens with
z₁ = W₁x + b₁ and d > w₁, write W₁ᵀ = QR (reduced QR, R (w₁, w₁)); then W₁ = RᵀQᵀ and

* tangents start at z₁ along the w₁ rows c_j of R (instead of the d columns of W₁),
* a result in those coordinates maps back with B = Qᵀ (w₁, d), whose rows are orthonormal:
  J = J_c B, H = Bᵀ H_c B, and Σ_j c_j c_jᵀ = RᵀR = W₁W₁ᵀ, so the Laplacian needs no map at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor

from hodphys.analytic.adjoint import Adjoint
from hodphys.analytic.jet import Jet
from hodphys.analytic.rules import LinearRule
from hodphys.request import Request


@dataclass(frozen=True)
class Start:
    """rules to run from x (N, p) with tangent directions (p, p); back (p, d) maps results to x, or None."""

    rules: Sequence[Any]
    x: Tensor
    directions: Tensor
    back: Tensor | None


def factorable(rules: Sequence[Any], d: int) -> bool:
    """True when the network opens with a linear layer narrower than its input."""
    return isinstance(rules[0], LinearRule) and rules[0].module.out_features < d


def start(request: Request, rules: Sequence[Any], factor: bool = True) -> Start:
    """Where the tangent sweep begins: at x with the unit vectors, or (factored) at z₁ along R's rows."""
    x = request.x
    if factor and factorable(rules, request.d):
        linear = rules[0].module
        q, r = torch.linalg.qr(linear.weight.t())  # W₁ᵀ = QR: (d, w₁), (w₁, w₁)
        z = torch.nn.functional.linear(x, linear.weight, linear.bias)
        return Start(rules[1:], z, r, q.t())
    return Start(rules, x, torch.eye(request.d, dtype=x.dtype, device=x.device), None)


def forward(rules: Sequence[Any], jet: Jet, save: bool = False) -> tuple[Jet, list]:
    """Run the rules on a jet; with ``save``, keep what each rule's backward needs."""
    saved = []
    for rule in rules:
        jet, kept = rule.forward(jet)
        if save:
            saved.append(kept)
    return jet, saved


def backward(rules: Sequence[Any], saved: list, adjoint: Adjoint) -> Adjoint:
    """Run the rules' transposes from the output back to the start."""
    for rule, kept in zip(reversed(rules), reversed(saved)):
        adjoint = rule.backward(adjoint, kept)
    return adjoint


def seeds(weights: Tensor, rows: int, row: int) -> Adjoint:
    """Adjoint with weights (S, m) or (N, S, m) on jet row ``row`` of ``rows``, zero elsewhere."""
    if weights.ndim == 2:
        weights = weights.unsqueeze(0)
    out = weights.new_zeros((*weights.shape[:2], rows, weights.shape[-1]))
    out[:, :, row] = weights
    return Adjoint(out)


def curvature_sites(start_: Start, m: int) -> tuple[Jet, list[tuple[Tensor, Tensor]]]:
    """Forward tangents along the start directions, then m value-only adjoints collecting the sites.

    Returns the output jet (value and Jacobian rows) and the sites (Dz (N, p, w), σ″⊙ḡ (·, m, w)).
    """
    jet = Jet.seed(start_.x, start_.directions)
    out, saved = forward(start_.rules, jet, save=True)
    eye = torch.eye(m, dtype=jet.rows.dtype, device=jet.rows.device)
    adjoint = seeds(eye, 1, 0)
    adjoint.sites = []
    backward(start_.rules, saved, adjoint)
    return out, adjoint.sites


def contract_hessian(sites: list[tuple[Tensor, Tensor]], n: int, m: int, p: int, like: Tensor) -> Tensor:
    """H (N, m, p, p) = Σ_sites Dzᵀ diag(σ″ ⊙ ḡ) Dz, all sites in one batched matmul."""
    if not sites:
        return like.new_zeros((n, m, p, p))
    t = torch.cat([dz for dz, _ in sites], -1)  # (N, p, W)
    s = torch.cat([c.expand(n, m, -1) for _, c in sites], -1)  # (N, m, W)
    if m == 1:
        return torch.bmm(t * s, t.transpose(1, 2)).unsqueeze(1)
    return torch.matmul(t.unsqueeze(1) * s.unsqueeze(2), t.transpose(1, 2).unsqueeze(1))


def contract_laplacian(sites: list[tuple[Tensor, Tensor]], n: int, m: int, like: Tensor) -> Tensor:
    """Δf (N, m) = Σ_sites Σ_w (σ″ ⊙ ḡ)_w ‖Dz_w‖²."""
    out = like.new_zeros((n, m))
    for dz, c in sites:
        out = out + (c * dz.square().sum(1, keepdim=True)).sum(-1)
    return out


def to_input(start_: Start, t: Tensor) -> Tensor:
    """Map (…, p) results in start coordinates to (…, d) (a no-op unless the first layer is factored)."""
    return t if start_.back is None else t @ start_.back


def hessian_to_input(start_: Start, h: Tensor) -> Tensor:
    """H = Bᵀ H_c B for a factored start."""
    return h if start_.back is None else start_.back.t() @ h @ start_.back


def symmetric(upper: Tensor, pairs: tuple[Tensor, Tensor], p: int) -> Tensor:
    """Second rows (N, R, m) at the pairs a ≤ b → (N, m, p, p)."""
    a, b = pairs
    upper = upper.transpose(1, 2)
    h = upper.new_zeros((*upper.shape[:2], p, p))
    h[..., a, b] = upper
    h[..., b, a] = upper
    return h
