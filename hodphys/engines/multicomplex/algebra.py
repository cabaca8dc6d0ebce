"""Multicomplex numbers of order n in Cauchy–Riemann form, components scaled by h^|S|.

A multicomplex number z = Σ_{S ⊆ {1..n}} z_S i_S (i_S = Π_{k∈S} i_k; units commute, i_k² = −1)
is stored as the 2ⁿ real tensors z'_S = z_S / h^|S| on a leading axis; the component index is
the bitmask of S (bit k−1 ↔ i_k), so z = z₀ + z₁ iₙ splits into the two halves of that axis.
Scaling keeps every stored value O(1) (no underflow in float32), and the product becomes

    (ab)'_U = Σ_{S △ T = U} (−h²)^{|S∩T|} a'_S b'_T,

which at h = 0 is the exact multidual (hyper-dual) product. Elementwise functions are their
truncated Taylor series f(x₀ + ε) = Σ_{k≤n} f⁽ᵏ⁾(x₀) εᵏ/k! with multicomplex products — never an
eigen-decomposition or idempotent split, which cancel catastrophically at small h.
"""
from __future__ import annotations

import math
from functools import cache
from collections.abc import Sequence

import torch
from torch import Tensor

from hodphys.shapes import broadcast_shape


DEFAULT_STEPS = {torch.float64: 2.0 ** -26, torch.float32: 2.0 ** -12}


def default_step(dtype: torch.dtype) -> float:
    """The default complex step h for a dtype: a power of two with h² ≈ machine epsilon."""
    if dtype not in DEFAULT_STEPS:
        raise TypeError(f"multicomplex arithmetic needs float32 or float64, got {dtype}")
    return DEFAULT_STEPS[dtype]


def check_step(h: float, order: int, dtype: torch.dtype) -> float:
    """Validate h for an order-n number of a dtype: h ≥ 0 and h^(2n) must not underflow."""
    if isinstance(h, bool) or not isinstance(h, (int, float)):
        raise TypeError(f"multicomplex step h must be a real number ≥ 0, got h={h!r} ({type(h).__name__})")
    h = float(h)
    if not math.isfinite(h) or h < 0:
        raise ValueError(f"multicomplex step h must be finite and ≥ 0, got h={h}")
    if h > 0 and order > 0 and math.log(h) * 2 * order > math.log(torch.finfo(dtype).max):
        raise ValueError(f"order-{order} multicomplex arithmetic with h={h:.3g} needs h^{2 * order}, which "
                         f"overflows {dtype}; use a smaller h or h=0 (the exact multidual limit)")
    if h > 0 and order > 0:
        tiny = torch.finfo(dtype).tiny
        if h ** (2 * order) < tiny:
            raise ValueError(
                f"order-{order} multicomplex arithmetic with h={h:.3g} needs h^{2 * order} = "
                f"{h ** (2 * order):.3g}, which underflows {dtype} (smallest normal {tiny:.3g}); "
                f"use a larger h, h=0 (the exact multidual limit) or float64"
            )
    return h


@cache
def _cross_table(order: int, exact: bool):
    """Rows (S, T's, U's, |S∩T|'s) over imaginary S, T ≥ 1 with S △ T = U ≠ ∅ (as 0-based imag
    indices); exact (h = 0) keeps only disjoint S, T."""
    rows = []
    for s in range(1, 1 << order):
        ts, us, overlaps = [], [], []
        for t in range(1, 1 << order):
            overlap = bin(s & t).count("1")
            if t == s or (exact and overlap):
                continue
            ts.append(t - 1)
            us.append((s ^ t) - 1)
            overlaps.append(overlap)
        if ts:
            rows.append((s - 1, tuple(ts), tuple(us), tuple(overlaps)))
    return tuple(rows)


@cache
def _index(values: tuple[int, ...], device: torch.device) -> Tensor:
    return torch.tensor(values, dtype=torch.long, device=device)


def _weights(overlaps: tuple[int, ...], h: float, like: Tensor, ndim: int) -> Tensor:
    return torch.tensor([(-h * h) ** k for k in overlaps], dtype=like.dtype,
                        device=like.device).view(-1, *([1] * ndim))


def _add_product(total: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """total + a·b, in place (no temporary) unless a·b broadcasts beyond total's shape."""
    if broadcast_shape(total.shape, a.shape, b.shape) == tuple(total.shape):
        return total.addcmul_(a, b)
    return torch.addcmul(total, a, b)


def multiply_parts(ar: Tensor | None, ai: Tensor, br: Tensor | None, bi: Tensor, order: int, h: float,
                   with_real: bool = True) -> tuple[Tensor | None, Tensor]:
    """The product of a = (ar, ai) and b = (br, bi): real parts (*S) and imaginary stacks (2ⁿ−1, *S),
    broadcastable, the two stacks of equal ndim; ``None`` is a zero real part. Returns (real or None,
    imag).

    imag_U = ar b_U + a_U br + Σ_{S,T≠∅, S△T=U} (−h²)^{|S∩T|} a_S b_T;
    real = ar br + Σ_{S≠∅} (−h²)^{|S|} a_S b_S (only when ``with_real``).
    """
    shape = broadcast_shape(ai.shape, bi.shape)
    if br is not None:
        imag = _add_product(ai * br, ar, bi) if ar is not None else ai * br
    elif ar is not None:
        imag = ar * bi
    else:
        imag = ai.new_zeros(shape)
    rows = _cross_table(order, h == 0)
    if rows and tuple(imag.shape) != shape:
        imag = imag.expand(shape).clone()
    for s, ts, us, overlaps in rows:
        if len(ts) == 1:
            imag[us[0]].addcmul_(ai[s], bi[ts[0]], value=(-h * h) ** overlaps[0])
            continue
        term = ai[s] * bi[_index(ts, ai.device)]
        if any(overlaps):
            term = term * _weights(overlaps, h, term, term.ndim - 1)
        imag.index_add_(0, _index(us, ai.device), term.expand(len(ts), *shape[1:]))
    real = None
    if with_real:
        if h:
            squares = ai * bi
            sizes = tuple(bin(u).count("1") for u in range(1, 1 << order))
            real = (squares * _weights(sizes, h, squares, squares.ndim - 1)).sum(0)
        if ar is not None and br is not None:
            real = ar * br if real is None else real + ar * br
    return real, imag


def multiply(a: Tensor, b: Tensor, order: int, h: float) -> Tensor:
    """Multicomplex product of full stacks a (2ⁿ, *Sa) and b (2ⁿ, *Sb) → (2ⁿ, *broadcast)."""
    real, imag = multiply_parts(a[0], a[1:], b[0], b[1:], order, h)
    shape = imag.shape[1:]
    return torch.cat([real.expand(shape).unsqueeze(0), imag])


def reciprocal(c: Tensor, order: int, h: float) -> Tensor:
    """1/z by recursive conjugation: 1/(z₀ + z₁iₙ) = (z₀ − z₁iₙ)/(z₀² + z₁²), exact for any h."""
    if order == 0:
        return 1 / c
    half = 1 << (order - 1)
    z0, z1 = c[:half], c[half:]
    norm = multiply(z0, z0, order - 1, h) + (h * h) * multiply(z1, z1, order - 1, h)
    inv = reciprocal(norm, order - 1, h)
    return torch.cat([multiply(inv, z0, order - 1, h), -multiply(inv, z1, order - 1, h)])


def taylor_parts(derivatives: Sequence[Tensor], eps: Tensor, order: int, h: float,
                 with_real: bool = True) -> tuple[Tensor | None, Tensor]:
    """Σ_{1≤k≤n} f⁽ᵏ⁾(x₀)/k! εᵏ for a purely imaginary ε (imag stack (2ⁿ−1, …));
    derivatives = [f, f', …, f⁽ⁿ⁾]. Returns (the O(h²) real contribution or None, imag)."""
    imag = derivatives[1] * eps
    real = None
    power_real, power = None, eps
    for k in range(2, order + 1):
        power_real, power = multiply_parts(power_real, power, None, eps, order, h, with_real and h > 0)
        coef = derivatives[k] / math.factorial(k)
        imag = imag + coef * power
        if power_real is not None:
            real = coef * power_real if real is None else real + coef * power_real
    return real, imag
