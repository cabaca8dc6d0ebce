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
from typing import Union
from collections.abc import Sequence

import torch
from torch import Tensor

from hodphys.elementwise import ElementwiseFunction

_DEFAULT_STEP = {torch.float64: 2.0 ** -26, torch.float32: 2.0 ** -12}


def default_step(dtype: torch.dtype) -> float:
    """The default complex step h for a dtype: a power of two with h² ≈ machine epsilon."""
    if dtype not in _DEFAULT_STEP:
        raise TypeError(f"multicomplex arithmetic needs float32 or float64, got {dtype}")
    return _DEFAULT_STEP[dtype]


def check_step(h: float, order: int, dtype: torch.dtype) -> float:
    """Validate h for an order-n number of a dtype: h ≥ 0 and h^(2n) must not underflow."""
    h = float(h)
    if not math.isfinite(h) or h < 0:
        raise ValueError(f"multicomplex step h must be finite and ≥ 0, got h={h}")
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
    if torch.broadcast_shapes(total.shape, a.shape, b.shape) == total.shape:
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
    shape = torch.broadcast_shapes(ai.shape, bi.shape)
    if br is not None:
        imag = _add_product(ai * br, ar, bi) if ar is not None else ai * br
    elif ar is not None:
        imag = ar * bi
    else:
        imag = ai.new_zeros(shape)
    rows = _cross_table(order, h == 0)
    if rows and imag.shape != shape:
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


Operand = Union["MulticomplexTensor", Tensor, float, int]


class MulticomplexTensor:
    """A tensor of order-n multicomplex numbers, components scaled by h^|S| on a leading axis.

    Args:
        components: (2ⁿ, *shape) real tensor; index = bitmask of the units of the component.
        order: n ≥ 0.
        h: the complex step; None takes :func:`default_step` of the dtype; 0 is the multidual limit.

    Example:
        >>> z = MulticomplexTensor.perturb(torch.tensor([0.3]), [torch.ones(1)] * 2, h=0)
        >>> z.apply(elementwise.Tanh()).part(1, 2)   # tanh''(0.3)
    """

    __slots__ = ("components", "order", "h")

    def __init__(self, components: Tensor, order: int, h: float | None = None):
        if not isinstance(components, Tensor) or components.dtype not in _DEFAULT_STEP:
            raise TypeError("MulticomplexTensor: components must be a float32 or float64 tensor")
        if components.ndim == 0 or components.shape[0] != 1 << order:
            raise ValueError(
                f"MulticomplexTensor: order {order} needs {1 << order} components on axis 0, "
                f"got components of shape {tuple(components.shape)}"
            )
        self.components = components
        self.order = order
        self.h = check_step(default_step(components.dtype) if h is None else h, order, components.dtype)

    @classmethod
    def from_real(cls, x: Tensor, order: int, h: float | None = None) -> MulticomplexTensor:
        """x + 0·i_1 + … (all imaginary components zero)."""
        comps = torch.zeros((1 << order, *x.shape), dtype=x.dtype, device=x.device)
        comps[0] = x
        return cls(comps, order, h)

    @classmethod
    def perturb(cls, x: Tensor, directions: Sequence[Tensor], h: float | None = None) -> MulticomplexTensor:
        """x + h(i₁v₁ + … + iₙvₙ): the input whose top component of f(·) is Dⁿf(x)[v₁..vₙ] + O(h²)."""
        z = cls.from_real(x, len(directions), h)
        for k, v in enumerate(directions):
            z.components[1 << k] = v
        return z

    @classmethod
    def from_complex(cls, z: Tensor, h: float | None = None) -> MulticomplexTensor:
        """An order-1 number from a torch complex tensor a + ib (stored as a, b/h)."""
        real = z.real
        h = default_step(real.dtype) if h is None else h
        if h == 0:
            raise ValueError("from_complex needs h > 0 (the imaginary part is stored divided by h)")
        return cls(torch.stack([real, z.imag / h]), 1, h)

    def to_complex(self) -> Tensor:
        """The torch complex tensor of an order-1 number."""
        if self.order != 1:
            raise ValueError(f"to_complex needs order 1, this number has order {self.order}")
        return torch.complex(self.components[0], self.h * self.components[1])

    @property
    def real(self) -> Tensor:
        return self.components[0]

    @property
    def shape(self) -> torch.Size:
        return self.components.shape[1:]

    def part(self, *units: int, scaled: bool = True) -> Tensor:
        """The component of i_{units}: stored (divided by h^|S|, the derivative) or, unscaled, z_S."""
        index = 0
        for k in units:
            if not 1 <= k <= self.order:
                raise ValueError(f"part{units}: imaginary units are 1..{self.order}, got {k}")
            if index & (1 << (k - 1)):
                raise ValueError(f"part{units}: unit i_{k} repeated")
            index |= 1 << (k - 1)
        value = self.components[index]
        return value if scaled else value * self.h ** len(units)

    def cr_matrix(self) -> Tensor:
        """The real Cauchy–Riemann matrix (*shape, 2ⁿ, 2ⁿ) of the scaled number (HoD-Net Eq. 6).

        CR(z₀ + z₁iₙ) = [[CR(z₀), −h²CR(z₁)], [CR(z₁), CR(z₀)]] (i_k² = −h² in scaled form), so
        CR(a)·CR(b) = CR(ab) and the first column holds the components.
        """
        def build(comps: Tensor, order: int) -> Tensor:
            if order == 0:
                return comps[0][..., None, None]
            half = 1 << (order - 1)
            m0, m1 = build(comps[:half], order - 1), build(comps[half:], order - 1)
            top = torch.cat([m0, -(self.h ** 2) * m1], dim=-1)
            return torch.cat([top, torch.cat([m1, m0], dim=-1)], dim=-2)

        return build(self.components, self.order)

    def _like(self, components: Tensor) -> MulticomplexTensor:
        return MulticomplexTensor(components, self.order, self.h)

    def _coerce(self, other: Operand) -> Tensor:
        if isinstance(other, MulticomplexTensor):
            if other.order != self.order or other.h != self.h:
                raise ValueError(
                    f"multicomplex operands differ: order {self.order}, h={self.h} vs "
                    f"order {other.order}, h={other.h}"
                )
            return other.components
        other = torch.as_tensor(other, dtype=self.components.dtype, device=self.components.device)
        other = other.reshape((1,) * max(len(self.shape) - other.ndim, 0) + other.shape)
        comps = torch.zeros((1 << self.order, *other.shape), dtype=other.dtype, device=other.device)
        comps[0] = other
        return comps

    def __add__(self, other: Operand) -> MulticomplexTensor:
        return self._like(self.components + self._coerce(other))

    __radd__ = __add__

    def __sub__(self, other: Operand) -> MulticomplexTensor:
        return self._like(self.components - self._coerce(other))

    def __rsub__(self, other: Operand) -> MulticomplexTensor:
        return self._like(self._coerce(other) - self.components)

    def __neg__(self) -> MulticomplexTensor:
        return self._like(-self.components)

    def __mul__(self, other: Operand) -> MulticomplexTensor:
        if not isinstance(other, MulticomplexTensor):
            other = torch.as_tensor(other, dtype=self.components.dtype, device=self.components.device)
            return self._like(self.components * other)
        return self._like(multiply(self.components, self._coerce(other), self.order, self.h))

    __rmul__ = __mul__

    def reciprocal(self) -> MulticomplexTensor:
        return self._like(reciprocal(self.components, self.order, self.h))

    def __truediv__(self, other: Operand) -> MulticomplexTensor:
        if not isinstance(other, MulticomplexTensor):
            return self * (1 / torch.as_tensor(other, dtype=self.components.dtype))
        return self * other.reciprocal()

    def __rtruediv__(self, other: Operand) -> MulticomplexTensor:
        return self._like(self._coerce(other)) * self.reciprocal()

    def apply(self, fn: ElementwiseFunction) -> MulticomplexTensor:
        """f(z) by the truncated Taylor series about the real part (see :func:`taylor_parts`)."""
        derivatives = fn.derivatives(self.real, self.order)
        if self.order == 0:
            return self._like(derivatives[0].unsqueeze(0))
        correction, imag = taylor_parts(derivatives, self.components[1:], self.order, self.h)
        real = derivatives[0] if correction is None else derivatives[0] + correction
        return self._like(torch.cat([real.expand(imag.shape[1:]).unsqueeze(0), imag]))

    def __repr__(self) -> str:
        return f"MulticomplexTensor(order={self.order}, h={self.h}, shape={tuple(self.shape)})"
