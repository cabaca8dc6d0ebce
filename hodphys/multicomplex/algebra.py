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
from functools import lru_cache
from typing import Sequence, Union

import torch
from torch import Tensor

from hodphys.elementwise import ElementwiseFunction
from hodphys.multicomplex.kernels import broadcast_shape

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


@lru_cache(maxsize=None)
def _product_table(order: int, exact: bool, a_real_zero: bool, b_real_zero: bool):
    """Per row S: (S, U's, T's, |S∩T|'s) with S △ T = U; exact drops the S∩T ≠ ∅ terms."""
    size = 1 << order
    rows = []
    for s in range(1 if a_real_zero else 0, size):
        us, ts, overlaps = [], [], []
        for t in range(1 if b_real_zero else 0, size):
            overlap = bin(s & t).count("1")
            if exact and overlap:
                continue
            us.append(s ^ t)
            ts.append(t)
            overlaps.append(overlap)
        if us:
            rows.append((s, tuple(us), tuple(ts), tuple(overlaps)))
    return tuple(rows)


@lru_cache(maxsize=None)
def _index(values: tuple[int, ...], device: torch.device) -> Tensor:
    return torch.tensor(values, dtype=torch.long, device=device)


def multiply(a: Tensor, b: Tensor, order: int, h: float, *, a_real_zero: bool = False,
             b_real_zero: bool = False) -> Tensor:
    """Multicomplex product of stacks a (2ⁿ, *Sa) and b (2ⁿ, *Sb) → (2ⁿ, *broadcast(Sa, Sb)).

    ``*_real_zero`` promise a zero real component, so the terms it multiplies are skipped.
    """
    shape = broadcast_shape(a.shape[1:], b.shape[1:])
    out = torch.zeros((1 << order, *shape), dtype=torch.result_type(a, b), device=a.device)
    for s, us, ts, overlaps in _product_table(order, h == 0, a_real_zero, b_real_zero):
        if len(us) == 1:
            term = a[s] * b[ts[0]]
            if overlaps[0]:
                term = term * (-h * h) ** overlaps[0]
            out[us[0]] += term
            continue
        term = a[s] * b[_index(ts, a.device)]
        if h and any(overlaps):
            coef = torch.tensor([(-h * h) ** k for k in overlaps], dtype=out.dtype, device=a.device)
            term = term * coef.view(-1, *([1] * len(shape)))
        out.index_add_(0, _index(us, a.device), term.expand(len(us), *shape))
    return out


def reciprocal(c: Tensor, order: int, h: float) -> Tensor:
    """1/z by recursive conjugation: 1/(z₀ + z₁iₙ) = (z₀ − z₁iₙ)/(z₀² + z₁²), exact for any h."""
    if order == 0:
        return 1 / c
    half = 1 << (order - 1)
    z0, z1 = c[:half], c[half:]
    norm = multiply(z0, z0, order - 1, h) + (h * h) * multiply(z1, z1, order - 1, h)
    inv = reciprocal(norm, order - 1, h)
    return torch.cat([multiply(inv, z0, order - 1, h), -multiply(inv, z1, order - 1, h)])


def taylor(derivatives: Sequence[Tensor], eps: Tensor, order: int, h: float) -> Tensor:
    """Σ_{k≤n} f⁽ᵏ⁾(x₀)/k! εᵏ for ε (2ⁿ, …) with zero real part; derivatives = [f, f', …, f⁽ⁿ⁾]."""
    out = torch.zeros(broadcast_shape(eps.shape, (1, *derivatives[0].shape)),
                      dtype=eps.dtype, device=eps.device)
    out[0] = derivatives[0]
    power = eps
    for k in range(1, order + 1):
        if k > 1:
            power = multiply(power, eps, order, h, a_real_zero=(h == 0), b_real_zero=True)
        out = out + (derivatives[k] / math.factorial(k)) * power
    return out


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
    def from_real(cls, x: Tensor, order: int, h: float | None = None) -> "MulticomplexTensor":
        """x + 0·i_1 + … (all imaginary components zero)."""
        comps = torch.zeros((1 << order, *x.shape), dtype=x.dtype, device=x.device)
        comps[0] = x
        return cls(comps, order, h)

    @classmethod
    def perturb(cls, x: Tensor, directions: Sequence[Tensor], h: float | None = None) -> "MulticomplexTensor":
        """x + h(i₁v₁ + … + iₙvₙ): the input whose top component of f(·) is Dⁿf(x)[v₁..vₙ] + O(h²)."""
        z = cls.from_real(x, len(directions), h)
        for k, v in enumerate(directions):
            z.components[1 << k] = v
        return z

    @classmethod
    def from_complex(cls, z: Tensor, h: float | None = None) -> "MulticomplexTensor":
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

    def _like(self, components: Tensor) -> "MulticomplexTensor":
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
        comps = torch.zeros((1 << self.order, *other.shape), dtype=other.dtype, device=other.device)
        comps[0] = other
        return comps

    def __add__(self, other: Operand) -> "MulticomplexTensor":
        return self._like(self.components + self._coerce(other))

    __radd__ = __add__

    def __sub__(self, other: Operand) -> "MulticomplexTensor":
        return self._like(self.components - self._coerce(other))

    def __rsub__(self, other: Operand) -> "MulticomplexTensor":
        return self._like(self._coerce(other) - self.components)

    def __neg__(self) -> "MulticomplexTensor":
        return self._like(-self.components)

    def __mul__(self, other: Operand) -> "MulticomplexTensor":
        if not isinstance(other, MulticomplexTensor):
            other = torch.as_tensor(other, dtype=self.components.dtype, device=self.components.device)
            return self._like(self.components * other)
        return self._like(multiply(self.components, self._coerce(other), self.order, self.h))

    __rmul__ = __mul__

    def reciprocal(self) -> "MulticomplexTensor":
        return self._like(reciprocal(self.components, self.order, self.h))

    def __truediv__(self, other: Operand) -> "MulticomplexTensor":
        if not isinstance(other, MulticomplexTensor):
            return self * (1 / torch.as_tensor(other, dtype=self.components.dtype))
        return self * other.reciprocal()

    def __rtruediv__(self, other: Operand) -> "MulticomplexTensor":
        return self._like(self._coerce(other)) * self.reciprocal()

    def apply(self, fn: ElementwiseFunction) -> "MulticomplexTensor":
        """f(z) by the truncated Taylor series about the real part (see :func:`taylor`)."""
        eps = torch.cat([torch.zeros_like(self.components[:1]), self.components[1:]])
        derivatives = fn.derivatives(self.real, self.order)
        return self._like(taylor(derivatives, eps, self.order, self.h))

    def __repr__(self) -> str:
        return f"MulticomplexTensor(order={self.order}, h={self.h}, shape={tuple(self.shape)})"
