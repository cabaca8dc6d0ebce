"""Forward-mode state of the analytic engine: the value, and tangent, second- and third-order rows.

A :class:`Jet` holds, for each of N samples, a layer's features (width w) as ``value`` (N, w) and
K = P + R + T derivative rows stacked component-major as ``rows`` (K, N, w) — each row a
contiguous (N, w) block, so the Laplacian sums the tangent rows without strides:

* rows 0..P-1: tangents Du[t_p] along P input directions (the Jacobian when they are the e_i);
* rows P..: second-order rows, one of
  - ``pairs = (a, b)``: D²u[t_a, t_b] for R index pairs (the Hessian's upper triangle, or one
    mixed pair for a second directional derivative);
  - ``pairs = TRACE``: one row Σ_p D²u[t_p, t_p] (the Laplacian when Σ_p t_p t_pᵀ = I);
  - ``pairs = OUTER``: all P² rows D²u[t_a, t_b], a-major (the full Hessian with no index
    bookkeeping: products are one outer product, the result one reshape — for tiny N·P², where
    the per-op cost of gathering the upper triangle outweighs the doubled arithmetic);
  - absent while the state is still affine in x (the second rows are then zero);
* rows P+R..: third-order rows D³u[t_a, t_b, t_c] for T index triples (``triples``), only
  when asked (third directional derivatives, ∂³/∂x_i³), absent exactly when the second rows are.

The value is kept apart from the rows it drives: a linear layer is one matmul with the bias
for the value and one without for all rows, and σ writes its value as a new tensor, where a
stacked value row would cost a row select, a bias write and a row write per layer. An
elementwise σ is the closed form of hessQuik's eq. (10) contracted early:
value σ(z), tangents σ′(z)·Dz, second σ′(z)·D²z + σ″(z)·(Dz_a ⊙ Dz_b), and third (Faà di Bruno)
σ′·D³z + σ″·(Dz_a ⊙ D²z_bc + Dz_b ⊙ D²z_ac + Dz_c ⊙ D²z_ab) + σ‴·(Dz_a ⊙ Dz_b ⊙ Dz_c).
"""
from __future__ import annotations

import torch
from torch import Tensor

from hodphys.elementwise import ElementwiseFunction
from hodphys.engines.kernels import rows_linear
from hodphys.scalars import scalar, transforms_active

TRACE = "trace"
OUTER = "outer"
MEMO_BYTES = 1 << 14  # a saved jet keeps its σ derivatives while its value is at most this big,
MEMO_TANGENTS = 16  # or while it has at least this many tangent rows
OUTER_WORK = 2048  # all p² pairs while N·p² stays below this (measured: above it the upper triangle wins)
LEAN_OUTER = 3  # from this many tangents, σ on all-pairs rows skips the P² products (two ops more, P× less memory)


def keeps_derivatives(n_tangents: int, value_bytes: int) -> bool:
    """Whether a jet saved for a backward sweep keeps σ′, σ″ for the adjoint: where that is cheap to
    hold — a small value (≤ :data:`MEMO_BYTES`, where each tensor op costs more than its arithmetic),
    except with one tangent row, which the two kept rows would double (and with it the sweep's
    memory); or many tangent rows (≥ :data:`MEMO_TANGENTS`: 2 rows more on the P + 1 saved)."""
    return n_tangents >= MEMO_TANGENTS or (value_bytes <= MEMO_BYTES and n_tangents != 1)


def use_outer(n: int, p: int) -> bool:
    """Whether a Hessian of N samples along p tangents keeps all p² pairs (OUTER): for tiny problems,
    where the gather and scatter of the upper triangle cost more than the doubled arithmetic."""
    return n * p * p <= OUTER_WORK


BLOCK_WORK = 1 << 14  # entries an upper-triangle block op averages, from which σ″ runs block by block


def _per_tangent_ops(rows: Tensor) -> bool:
    """Whether one op per tangent may replace a gathered product: on the CPU, where it saves memory
    traffic; on a GPU each op's launch costs more than the traffic (the 200 → 200 Hessian at batch 1
    on an H200: 22.8 ms block by block, 1 400 launches, against 1.7 ms for the multicomplex engine)."""
    return rows.device.type == "cpu"


def _sum_of_squares(t: Tensor) -> Tensor:
    """Σ_p t_p ⊙ t_p (1, N, w) of tangents (P, N, w). Rows of ≥ :data:`BLOCK_WORK` entries accumulate
    in place, one addcmul_ a tangent: no (P, N, w) product and no reduction over it (2.4× faster
    for P = 2, N·w = 204800; 1.4× for P = 20, N·w = 65536); small rows take two ops instead of P."""
    if t[0].numel() < BLOCK_WORK or not _per_tangent_ops(t) or transforms_active():  # vmap: no addcmul_ rule
        return (t * t).sum(0, keepdim=True)  # t * t: pow(t, 2) is several times slower on CPU
    total = t[0] * t[0]
    for p in range(1, t.shape[0]):
        total.addcmul_(t[p], t[p])
    return total.unsqueeze(0)


class Upper(tuple):
    """The p(p+1)/2 pairs (a, b), a ≤ b, of p tangents in ``torch.triu_indices`` order: the pairs
    of tangent a are one contiguous block of p − a rows, so σ″·(Dz_a ⊙ Dz_b) of a block is one
    broadcast product of (σ″ Dz_a) with the tangents a.. — no gathered copies of the tangents,
    no (R, N, w) product tensor (see :meth:`Jet._upper_blocks`)."""

    def __new__(cls, p: int, device: torch.device) -> Upper:
        pairs = super().__new__(cls, tuple(torch.triu_indices(p, p, device=device)))
        pairs.p = p
        return pairs

    def block(self, a: int) -> slice:
        """The rows of the pairs (a, a..p−1) among the second rows."""
        start = a * self.p - a * (a - 1) // 2
        return slice(start, start + self.p - a)


class Triples:
    """T third-order rows D³u[t_a, t_b, t_c]: tangent indices a, b, c (T,) and the indices bc, ac, ab
    (T,) of the second rows D²u[t_b, t_c], D²u[t_a, t_c], D²u[t_a, t_b] among the jet's pairs."""

    __slots__ = ("a", "b", "c", "bc", "ac", "ab")

    def __init__(self, a: Tensor, b: Tensor, c: Tensor, bc: Tensor, ac: Tensor, ab: Tensor):
        self.a, self.b, self.c, self.bc, self.ac, self.ab = a, b, c, bc, ac, ab

    def __len__(self) -> int:
        return len(self.a)


class Jet:
    """value (N, w) and rows (K, N, w) with P tangents and second-order rows described by ``pairs``
    (see module doc); ``rows`` is None for a value-only jet (P = 0).

    ``pairs`` is None (first order only), :data:`TRACE`, or two index tensors (R,) into the tangents;
    ``triples`` (with index pairs only) adds third-order rows.
    ``scratch``: σ may overwrite the rows it is applied to — set for sweeps that keep no state
    for a backward pass; every σ input the sweep made itself (``owned``: not a seed's view of
    the caller's tensors) is then a fresh tensor no one else reads, and updating it in place
    saves allocating (and page-faulting) K new rows per layer. It is not done while autograd
    records the rows or the value (training), whose graph needs them as they were.
    """

    __slots__ = ("value", "rows", "n_tangents", "pairs", "triples", "scratch", "owned", "memo")

    def __init__(self, value: Tensor, rows: Tensor | None, n_tangents: int,
                 pairs: tuple[Tensor, Tensor] | str | None = None, scratch: bool = False,
                 triples: Triples | None = None, owned: bool = True):
        self.value, self.rows, self.n_tangents, self.pairs = value, rows, n_tangents, pairs
        self.scratch, self.triples, self.owned = scratch, triples, owned
        self.memo: tuple[ElementwiseFunction, list[Tensor]] | None = None  # see _derivatives()

    @classmethod
    def seed(cls, x: Tensor, tangents: Tensor | None, pairs: tuple[Tensor, Tensor] | str | None = None,
             triples: Triples | None = None) -> Jet:
        """x (N, d) with tangents (P, d) shared by all samples or (P, N, d); higher rows start at zero.

        The rows are views of the caller's tensors (``owned`` False: never written in place), but
        for TRACE, whose zero row makes them a new tensor."""
        if tangents is None:
            return cls(x, None, 0, pairs, owned=False)
        if not tangents.is_contiguous():  # e.g. W₁ᵀ: σ′·rows would take its transposed layout, and
            tangents = tangents.contiguous()  # every matmul after it would copy the rows first
        if tangents.ndim == 2:
            tangents = tangents.unsqueeze(1)
        tangents = tangents.expand(tangents.shape[0], *x.shape)
        if pairs == TRACE:
            # the one TRACE row starts as zeros: it costs the first matmul one row, where adding
            # it at the first σ would copy all K rows (pairs, with R rows, are added lazily instead)
            return cls(x, torch.cat([tangents, x.new_zeros((1, *x.shape))]), tangents.shape[0], pairs)
        return cls(x, tangents, tangents.shape[0], pairs, triples=triples, owned=False)

    def _like(self, value: Tensor, rows: Tensor | None) -> Jet:
        return Jet(value, rows, self.n_tangents, self.pairs, self.scratch, self.triples)

    @property
    def n_second(self) -> int:
        """R: the number of second rows the pairs describe."""
        if self.pairs is None or isinstance(self.pairs, str):
            return {None: 0, TRACE: 1, OUTER: self.n_tangents ** 2}[self.pairs]
        return len(self.pairs[0])

    @property
    def n_rows(self) -> int:
        """1 + K: the value and the derivative rows (the row count of an adjoint of this jet)."""
        return 1 if self.rows is None else 1 + self.rows.shape[0]

    @property
    def tangents(self) -> Tensor:
        """(P, N, w)."""
        rows = self.rows
        return rows if rows.shape[0] == self.n_tangents else rows[:self.n_tangents]

    @property
    def second(self) -> Tensor | None:
        """(R, N, w), (1, N, w) for TRACE, or None while it is zero."""
        start = self.n_tangents
        return self.rows[start:start + self.n_second] if self.has_second else None

    def second_rows(self) -> Tensor:
        """The second rows, zeros (R, N, w) while the state is still affine in x."""
        if self.has_second:
            return self.second
        return self.value.new_zeros((self.n_second, *self.value.shape))

    def third_rows(self) -> Tensor:
        """The third rows (T, N, w), zeros while the state is still affine in x."""
        if self.has_second:
            return self.rows[self.n_tangents + self.n_second:]
        return self.value.new_zeros((len(self.triples), *self.value.shape))

    @property
    def has_second(self) -> bool:
        return self.rows is not None and self.rows.shape[0] > self.n_tangents

    def products(self) -> Tensor:
        """The σ″ factor of the second rows: Dz_a ⊙ Dz_b (R, N, w), Σ_p (Dz_p)² (1, N, w) for TRACE,
        all Dz_a ⊙ Dz_b (P², N, w) for OUTER."""
        t = self.tangents
        if self.pairs == TRACE:
            return _sum_of_squares(t)
        if self.pairs == OUTER:
            return (t.unsqueeze(1) * t.unsqueeze(0)).flatten(0, 1)
        a, b = self.pairs
        return t.index_select(0, a) * t.index_select(0, b)  # 2-5× faster than t[a] * t[b]

    def linear(self, weight: Tensor, bias: Tensor | None = None) -> Jet:
        """u ↦ W u + b: the value with the bias, every row without; W (w_out, w)."""
        rows = None if self.rows is None else rows_linear(self.rows, weight)
        return self._like(rows_linear(self.value, weight, bias), rows)

    def scale(self, c: float) -> Jet:
        c = scalar(c, self.value)
        return self._like(self.value * c, None if self.rows is None else self.rows * c)

    def add(self, other: Jet, alpha: float = 1.0) -> Jet:
        """self + alpha·other on the same tangents; a missing (zero) second block is padded.

        A ``scratch`` other (a residual branch in a sweep that keeps no state) takes the sum in
        its own rows: one K-row buffer less alive at the peak."""
        value = torch.add(self.value, other.value, alpha=alpha)
        a, b = self.rows, other.rows
        if a is None:
            return self._like(value, None)
        if a.shape[0] < b.shape[0]:
            a = torch.nn.functional.pad(a, (0, 0, 0, 0, 0, b.shape[0] - a.shape[0]))
        elif b.shape[0] < a.shape[0]:
            b = torch.nn.functional.pad(b, (0, 0, 0, 0, 0, a.shape[0] - b.shape[0]))
        if b is other.rows and other._writable(b) and not (torch.is_grad_enabled() and a.requires_grad):
            return self._like(value, torch.add(a, b, alpha=alpha, out=b))
        return self._like(value, torch.add(a, b, alpha=alpha))

    def _writable(self, rows: Tensor | None) -> bool:
        """Whether σ may overwrite these rows of this jet (``scratch``, ``owned``, no autograd graph:
        rows without one are still read by σ′(z)'s graph when the value has one)."""
        return (self.scratch and self.owned and rows is not None and not transforms_active()
                and not (torch.is_grad_enabled() and (rows.requires_grad or self.value.requires_grad)))

    def add_activated(self, z: Jet, fn: ElementwiseFunction, alpha: float) -> Jet:
        """self + alpha·σ(z) (a residual branch with a scalar step): on first-order rows the sum
        and σ′'s chain rule are one op, rows + alpha·σ′(z)·Dz; with second rows, σ then add."""
        if z.pairs is not None or z.rows is None or self.rows is None:
            return self.add(z.elementwise(fn), alpha)
        f = z._derivatives(fn, 1)
        rows = z.rows
        writable = z._writable(rows) and rows.shape == self.rows.shape and not (
            torch.is_grad_enabled() and self.rows.requires_grad)
        out = {"out": rows} if writable else {}
        return self._like(torch.add(self.value, f[0], alpha=alpha),
                          torch.addcmul(self.rows, f[1], rows, value=alpha, **out))

    def _third_terms(self, f: list[Tensor]) -> Tensor:
        """The σ″ and σ‴ terms of the third rows (T, N, w) (module doc), before σ′·D³z."""
        tr, t = self.triples, self.tangents
        ta, tb, tc = t.index_select(0, tr.a), t.index_select(0, tr.b), t.index_select(0, tr.c)
        out = f[3] * (ta * tb * tc)
        if self.has_second:
            s = self.second
            mixed = ta * s.index_select(0, tr.bc) + tb * s.index_select(0, tr.ac) + tc * s.index_select(0, tr.ab)
            out = out + f[2] * mixed
        return out

    def sigma(self, fn: ElementwiseFunction, order: int) -> list[Tensor | None]:
        """[σ, σ′, …, σ⁽ᵒʳᵈᵉʳ⁾] at the value (N, w) — the forward sweep's own, when it kept them
        (then without σ itself: entry 0 is None)."""
        memo = self.memo
        if memo is not None and len(memo[1]) > order and memo[0] == fn:
            return memo[1]
        return fn.derivatives(self.value, order)

    def _outer_in_place(self, f: list[Tensor]) -> Tensor:
        """σ′ and σ″ on all-pairs rows in place, second rows first, so the σ″ term broadcasts t_a
        against σ″ t_b instead of forming the P² products: one (P, N, w) temporary instead of
        (P², N, w) (two ops more; below :data:`LEAN_OUTER` tangents the products are no bigger)."""
        rows, p = self.rows, self.n_tangents
        tangents, second = rows[:p], rows[p:]
        second.mul_(f[1])
        second.view(p, p, *tangents.shape[1:]).addcmul_(tangents.unsqueeze(1), (tangents * f[2]).unsqueeze(0))
        tangents.mul_(f[1])
        return rows

    def _keeps(self) -> bool:
        """Whether σ on this jet keeps its derivatives for a backward sweep (:func:`keeps_derivatives`)."""
        value = self.value
        return not self.scratch and keeps_derivatives(self.n_tangents, value.numel() * value.element_size())

    def _blockwise(self) -> bool:
        """Whether σ″ goes block by block over :class:`Upper` pairs: blocks big enough to outweigh
        an op each (:data:`BLOCK_WORK`), on the CPU (see :func:`_per_tangent_ops`), no third rows,
        and no graph or transform on the rows."""
        rows, p = self.rows, self.n_tangents
        return (isinstance(self.pairs, Upper) and self.triples is None and p * rows[0].numel() >= 2 * BLOCK_WORK
                and _per_tangent_ops(rows) and not transforms_active()
                and not (torch.is_grad_enabled() and (rows.requires_grad or self.value.requires_grad)))

    def _upper_blocks(self, f: list[Tensor], in_place: bool) -> Tensor:
        """σ′ on all rows and σ″·(Dz_a ⊙ Dz_b) on the upper pairs, one broadcast op per tangent a:
        block a += (σ″ Dz_a) ⊙ Dz_{a..}, second rows before the tangents they read are scaled."""
        rows, p, pairs = self.rows, self.n_tangents, self.pairs
        tangents = rows[:p]
        scaled = f[2] * tangents  # σ″ Dz_a (P, N, w)
        if self.has_second:
            out = rows if in_place else f[1] * rows
            second, write = out[p:], torch.Tensor.addcmul_
            if in_place:
                second.mul_(f[1])
        else:  # the first σ: the second rows are born here, written block by block
            out = rows.new_empty((p + len(pairs[0]), *rows.shape[1:]))
            second, write = out[p:], lambda block, a, b: torch.mul(a, b, out=block)
        for a in range(p):
            write(second[pairs.block(a)], scaled[a], tangents[a:])
        if not self.has_second:
            torch.mul(tangents, f[1], out=out[:p])
        elif in_place:
            tangents.mul_(f[1])
        return out

    def _derivatives(self, fn: ElementwiseFunction, need: int) -> list[Tensor]:
        """[σ, σ′, …, σ⁽ⁿᵉᵉᵈ⁾] at the value; a jet saved for a backward sweep keeps one more (``memo``,
        without σ itself) for the adjoint of this σ when :func:`keeps_derivatives` says. Otherwise
        the adjoint recomputes them and no memory is held."""
        value = self.value
        keep = self._keeps()
        f = fn.derivatives(value, need + 1 if keep else need)
        if keep:
            self.memo = (fn, [None, *f[1:]])
        return f

    def elementwise(self, fn: ElementwiseFunction) -> Jet:
        """σ applied to the value, its chain rule to the rows (module doc); σ′, σ″ kept for the
        adjoint as :meth:`_derivatives` says."""
        second = self.pairs is not None
        rows = self.rows
        need = 0 if rows is None else 3 if self.triples is not None else 2 if second else 1
        in_place = self._writable(rows)
        if need == 1 and not self._keeps():  # first order: σ′·rows in one fused op (ElementwiseFunction.chain)
            value, out = fn.chain(self.value, rows, out=rows if in_place else None)
            return self._like(value, out)
        f = self._derivatives(fn, need)
        if need == 0:
            return self._like(f[0], None)
        if in_place and self.pairs == OUTER and self.n_tangents >= LEAN_OUTER and self.has_second \
                and self.triples is None:
            return self._like(f[0], self._outer_in_place(f))
        if self._blockwise():
            return self._like(f[0], self._upper_blocks(f, in_place))
        # everything read from the rows is read before they are scaled (in place, maybe)
        products = self.products() if second else None
        third = self._third_terms(f) if self.triples is not None else None
        out = rows.mul_(f[1]) if in_place else f[1] * rows
        if not second:
            return self._like(f[0], out)
        if not self.has_second:  # products is a fresh tensor: in a scratch sweep it takes σ″ in place
            second = products.mul_(f[2]) if in_place else f[2] * products
            return self._like(f[0], torch.cat([out, second, *([] if third is None else [third])]))
        start = self.n_tangents
        second_out = out[start:start + len(products)]
        if transforms_active():  # vmap has no batching rule for addcmul_
            second_out += f[2] * products
        else:
            second_out.addcmul_(f[2], products)
        if third is not None:
            out[start + len(products):] += third
        return self._like(f[0], out)
