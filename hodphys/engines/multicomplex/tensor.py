"""MulticomplexTensor: order-n multicomplex numbers as a tensor type (CR form, h^|S|-scaled).

The arithmetic lives in :mod:`hodphys.engines.multicomplex.algebra`; this module wraps it as a number type
with ``+ − × ÷``, scalar operands, component access, the CR matrix and elementwise functions.
"""
from __future__ import annotations

from typing import Union
from collections.abc import Sequence

import torch
from torch import Tensor

from hodphys.elementwise import ElementwiseFunction
from hodphys.engines.multicomplex.algebra import (
    DEFAULT_STEPS,
    check_step,
    default_step,
    multiply,
    reciprocal,
    taylor_parts,
)

Operand = Union["MulticomplexTensor", Tensor, float, int]


def _pad(components: Tensor, ndim: int) -> Tensor:
    """(C, *shape) → (C, 1, …, 1, *shape) with ndim axes in all."""
    return components.reshape(components.shape[0], *(1,) * (ndim - components.ndim), *components.shape[1:])


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
        if not isinstance(components, Tensor) or components.dtype not in DEFAULT_STEPS:
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

    def _real_operand(self, other: Operand) -> Tensor:
        """A plain number or real tensor as a tensor of this number's dtype and device."""
        if isinstance(other, complex) or (isinstance(other, Tensor) and other.is_complex()):
            raise TypeError("MulticomplexTensor: a complex operand is ambiguous (which unit is i?); "
                            "build a MulticomplexTensor from it first")
        return torch.as_tensor(other, dtype=self.components.dtype, device=self.components.device)

    def _coerce(self, other: Operand) -> Tensor:
        """other's components (2ⁿ, *shape) — a real operand has only the real one."""
        if isinstance(other, MulticomplexTensor):
            if other.order != self.order or other.h != self.h:
                raise ValueError(
                    f"multicomplex operands differ: order {self.order}, h={self.h} vs "
                    f"order {other.order}, h={other.h}"
                )
            return other.components
        other = self._real_operand(other)
        comps = other.new_zeros((1 << self.order, *other.shape))
        comps[0] = other
        return comps

    def _pair(self, other: Operand) -> tuple[Tensor, Tensor]:
        """Both operands' components with their value shapes aligned from the right, so that the
        component axis never meets a value axis when they broadcast."""
        a, b = self.components, self._coerce(other)
        ndim = max(a.ndim, b.ndim)
        return _pad(a, ndim), _pad(b, ndim)

    def __add__(self, other: Operand) -> MulticomplexTensor:
        a, b = self._pair(other)
        return self._like(a + b)

    __radd__ = __add__

    def __sub__(self, other: Operand) -> MulticomplexTensor:
        a, b = self._pair(other)
        return self._like(a - b)

    def __rsub__(self, other: Operand) -> MulticomplexTensor:
        a, b = self._pair(other)
        return self._like(b - a)

    def __neg__(self) -> MulticomplexTensor:
        return self._like(-self.components)

    def __mul__(self, other: Operand) -> MulticomplexTensor:
        if not isinstance(other, MulticomplexTensor):  # a real factor scales every component
            other = self._real_operand(other)
            ndim = max(self.components.ndim, other.ndim + 1)
            return self._like(_pad(self.components, ndim) * _pad(other.unsqueeze(0), ndim))
        a, b = self._pair(other)
        return self._like(multiply(a, b, self.order, self.h))

    __rmul__ = __mul__

    def reciprocal(self) -> MulticomplexTensor:
        return self._like(reciprocal(self.components, self.order, self.h))

    def __truediv__(self, other: Operand) -> MulticomplexTensor:
        if not isinstance(other, MulticomplexTensor):
            return self * (1 / self._real_operand(other))
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
