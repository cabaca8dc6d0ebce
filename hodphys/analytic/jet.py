"""Forward-mode state of the analytic engine: value, tangents and second-order rows in one tensor.

A :class:`Jet` holds, for each of N samples, the K = 1 + P + R rows of a layer's features
(width w), stacked component-major as ``rows`` (K, N, w) — each row a contiguous (N, w) block,
so σ reads its value row and the Laplacian sums its tangent rows without strides:

* row 0: the value u;
* rows 1..P: tangents Du[t_p] along P input directions (the Jacobian when they are the e_i);
* rows 1+P..: second-order rows, one of
  - ``pairs = (a, b)``: D²u[t_a, t_b] for R index pairs (the Hessian's upper triangle, or one
    mixed pair for a second directional derivative);
  - ``pairs = TRACE``: one row Σ_p D²u[t_p, t_p] (the Laplacian when Σ_p t_p t_pᵀ = I);
  - absent while the state is still affine in x (the second rows are then zero).

Stacking makes a linear layer one matmul for all rows (the bias touches row 0 only), and an
elementwise σ is the closed form of hessQuik's eq. (10) contracted early:
value σ(z), tangents σ′(z)·Dz, second σ′(z)·D²z + σ″(z)·(Dz_a ⊙ Dz_b).
"""
from __future__ import annotations

import torch
from torch import Tensor

from hodphys.elementwise import ElementwiseFunction
from hodphys.scalars import scalar

TRACE = "trace"


class Jet:
    """rows (K, N, w) with P tangents and second-order rows described by ``pairs`` (see module doc).

    ``pairs`` is None (first order only), :data:`TRACE`, or two index tensors (R,) into the tangents.
    ``scratch``: σ may overwrite the rows it is applied to — set for sweeps that keep no state
    for a backward pass; every σ input is then a fresh tensor no one else reads, and updating it
    in place saves allocating (and page-faulting) K new rows per layer. It is not done while
    autograd records the rows (training), whose graph needs them as they were.
    """

    __slots__ = ("rows", "n_tangents", "pairs", "scratch")

    def __init__(self, rows: Tensor, n_tangents: int, pairs: tuple[Tensor, Tensor] | str | None = None,
                 scratch: bool = False):
        self.rows, self.n_tangents, self.pairs, self.scratch = rows, n_tangents, pairs, scratch

    @classmethod
    def seed(cls, x: Tensor, tangents: Tensor | None, pairs: tuple[Tensor, Tensor] | str | None = None) -> Jet:
        """x (N, d) with tangents (P, d) shared by all samples or (P, N, d); second rows start at zero."""
        if tangents is None:
            return cls(x.unsqueeze(0), 0, pairs)
        if tangents.ndim == 2:
            tangents = tangents.unsqueeze(1)
        tangents = tangents.expand(tangents.shape[0], *x.shape)
        # the one TRACE row starts as zeros: it costs the first matmul one row, where adding it
        # at the first σ would copy all K rows (pairs, with R rows, are added lazily instead)
        zero = [x.new_zeros((1, *x.shape))] if pairs == TRACE else []
        return cls(torch.cat([x.unsqueeze(0), tangents, *zero]), tangents.shape[0], pairs)

    def _like(self, rows: Tensor) -> Jet:
        return Jet(rows, self.n_tangents, self.pairs, self.scratch)

    @property
    def value(self) -> Tensor:
        """(N, w)."""
        return self.rows[0]

    @property
    def tangents(self) -> Tensor:
        """(P, N, w)."""
        return self.rows[1:1 + self.n_tangents]

    @property
    def second(self) -> Tensor | None:
        """(R, N, w), (1, N, w) for TRACE, or None while it is zero."""
        return self.rows[1 + self.n_tangents:] if self.has_second else None

    def second_rows(self) -> Tensor:
        """The second rows, zeros (R, N, w) while the state is still affine in x."""
        if self.has_second:
            return self.second
        r = 1 if self.pairs == TRACE else len(self.pairs[0])
        return self.rows.new_zeros((r, *self.rows.shape[1:]))

    @property
    def has_second(self) -> bool:
        return self.rows.shape[0] > 1 + self.n_tangents

    def products(self) -> Tensor:
        """The σ″ factor of the second rows: Dz_a ⊙ Dz_b (R, N, w), or Σ_p (Dz_p)² (1, N, w) for TRACE."""
        t = self.tangents
        if self.pairs == TRACE:
            return (t * t).sum(0, keepdim=True)  # t * t: pow(t, 2) is several times slower on CPU
        a, b = self.pairs
        return t.index_select(0, a) * t.index_select(0, b)  # 2-5× faster than t[a] * t[b]

    def linear(self, weight: Tensor, bias: Tensor | None = None) -> Jet:
        """u ↦ W u + b on every row, the bias on the value row only; W (w_out, w)."""
        out = torch.nn.functional.linear(self.rows, weight)
        if bias is not None:
            out[0].add_(bias)
        return self._like(out)

    def scale(self, c: float) -> Jet:
        return self._like(self.rows * scalar(c, self.rows))

    def add(self, other: Jet, alpha: float = 1.0) -> Jet:
        """self + alpha·other on the same tangents; a missing (zero) second block is padded."""
        a, b = self.rows, other.rows
        if a.shape[0] < b.shape[0]:
            a = torch.nn.functional.pad(a, (0, 0, 0, 0, 0, b.shape[0] - a.shape[0]))
        elif b.shape[0] < a.shape[0]:
            b = torch.nn.functional.pad(b, (0, 0, 0, 0, 0, a.shape[0] - b.shape[0]))
        return self._like(torch.add(a, b, alpha=alpha))

    def elementwise(self, fn: ElementwiseFunction) -> Jet:
        """σ applied to the value, its chain rule to the other rows (module doc)."""
        if self.rows.shape[0] == 1:
            return self._like(fn.derivatives(self.rows, 0)[0])
        second = self.pairs is not None
        in_place = self.scratch and not (torch.is_grad_enabled() and self.rows.requires_grad)
        value = self.rows[0].clone() if in_place else self.rows[0]  # σ′ may alias the value row
        f = fn.derivatives(value, 2 if second else 1)
        curvature = f[2] * self.products() if second else None
        # σ′ times all rows, then row 0 overwritten with σ: one product instead of a product and
        # a torch.cat of all K rows
        out = self.rows.mul_(f[1]) if in_place else f[1] * self.rows
        out[0] = f[0]
        if second:
            if self.has_second:
                out[1 + self.n_tangents:] += curvature
            else:
                out = torch.cat([out, curvature])
        return self._like(out)
