"""The number systems a network is executed in by the multicomplex engine.

Both states offer the same operations, so each layer's rule is written once
(``linear``, ``elementwise``, ``add``, ``scale``, ``add_activated``):

* :class:`Jet` — order-n multicomplex numbers for P perturbations that share one real part.
  The real part is the real-copy network (HoD-Net, Fig. 2): it equals ``model(x)`` exactly and
  is computed once for every perturbation; the imaginary components carry the CSFD terms,
  O(h²)-exact for h > 0 and exact for h = 0. Jets also run backwards (CSFD-BP).
* :class:`SecondOrderJet` — the collapsed h → 0 order-2 form: the first-order components are
  shared across all perturbations that use a direction, and the top component is kept only
  for the pairs asked for, or only as their sum (the Laplacian: Σ_i D²f[e_i, e_i]).

Glossary: C = 2ⁿ components, P perturbations, S adjoint seeds, *R the value's own shape
(N, w) going forward and (S, N, w) going backward.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from hodphys.elementwise import ElementwiseFunction
from hodphys.scalars import scalar
from hodphys.engines.multicomplex.algebra import multiply_parts, taylor_parts


class Jet:
    """real (*R) and imag (C − 1, P, *R): component S ≠ ∅ at index S − 1, scaled by h^|S|.

    Any axis of ``imag`` may have size 1 and broadcast (e.g. input directions that do not
    depend on the sample).
    """

    __slots__ = ("real", "imag", "order", "h")

    def __init__(self, real: Tensor, imag: Tensor, order: int, h: float):
        self.real, self.imag, self.order, self.h = real, imag, order, h

    def _with(self, real: Tensor, imag: Tensor) -> Jet:
        return Jet(real, imag, self.order, self.h)

    def linear(self, weight: Tensor, bias: Tensor | None = None) -> Jet:
        """x ↦ W x + b on every component; the bias only on the real part."""
        return self._with(F.linear(self.real, weight, bias), F.linear(self.imag, weight))

    def transposed_linear(self, weight: Tensor) -> Jet:
        """ḡ ↦ Wᵀ ḡ: the adjoint of x ↦ W x."""
        return self.linear(weight.t())

    def add(self, other: Jet, alpha: float = 1.0) -> Jet:
        """self + alpha·other."""
        return self._with(torch.add(self.real, other.real, alpha=alpha),
                          torch.add(self.imag, other.imag, alpha=alpha))

    def scale(self, c: float) -> Jet:
        return self._with(self.real * scalar(c, self.real), self.imag * scalar(c, self.imag))

    def add_activated(self, z: Jet, fn: ElementwiseFunction, alpha: float) -> Jet:
        """self + alpha·f(z)."""
        return self.add(z.elementwise(fn), alpha)

    def elementwise(self, fn: ElementwiseFunction, shift: int = 0) -> Jet:
        """f⁽ˢʰⁱᶠᵗ⁾ applied by its truncated Taylor series; the real part is f⁽ˢʰⁱᶠᵗ⁾(real) exactly."""
        derivatives = fn.derivatives(self.real, self.order + shift)[shift:]
        if self.order == 0:
            return self._with(derivatives[0], self.imag)
        _, imag = taylor_parts(derivatives, self.imag, self.order, self.h, with_real=False)
        return self._with(derivatives[0], imag)

    def times(self, other: Jet) -> Jet:
        """The multicomplex product, real part pinned to the product of the real parts."""
        _, imag = multiply_parts(self.real, self.imag, other.real, other.imag, self.order, self.h,
                                 with_real=False)
        return self._with(self.real * other.real, imag)

    def through_elementwise(self, fn: ElementwiseFunction, z: Jet, scale: float = 1.0) -> Jet:
        """On a Jet of adjoints: ḡ_z = σ′(z) ⊙ scale·ḡ_a, σ′(z) evaluated in multicomplex arithmetic."""
        adjoint = self if scale == 1.0 else self.scale(scale)
        return adjoint.times(z.elementwise(fn, shift=1).with_seed_axis())

    def with_seed_axis(self) -> Jet:
        """Insert the seed axis S (size 1) after P, to meet an adjoint of shape (…, P, S, *R)."""
        return self._with(self.real, self.imag.unsqueeze(2))

    def top(self) -> Tensor:
        """The component of i₁i₂…iₙ: (P, *R)."""
        return self.imag[-1]


class SecondOrderJet:
    """Exact (h → 0) order-2 numbers with shared lower components.

    real (*R); first (q, *R): the directional derivatives along q directions;
    second: (r, *R), the second derivatives D²[e_a, e_b] for the r pairs (a_j, b_j) of
    directions in ``pairs``, or (*R) with ``pairs=None``: Σ_j D²[e_j, e_j] over all q
    directions (the Laplacian when the directions are the unit vectors).
    ``second=None`` stands for zero (the input).
    """

    __slots__ = ("real", "first", "second", "pairs")

    def __init__(self, real: Tensor, first: Tensor, second: Tensor | None,
                 pairs: tuple[Tensor, Tensor] | None):
        self.real, self.first, self.second, self.pairs = real, first, second, pairs

    def _with(self, real: Tensor, first: Tensor, second: Tensor | None) -> SecondOrderJet:
        return SecondOrderJet(real, first, second, self.pairs)

    def linear(self, weight: Tensor, bias: Tensor | None = None) -> SecondOrderJet:
        second = None if self.second is None else F.linear(self.second, weight)
        return self._with(F.linear(self.real, weight, bias), F.linear(self.first, weight), second)

    def transposed_linear(self, weight: Tensor) -> SecondOrderJet:
        """ḡ ↦ Wᵀ ḡ: the adjoint of x ↦ W x."""
        return self.linear(weight.t())

    def add(self, other: SecondOrderJet, alpha: float = 1.0) -> SecondOrderJet:
        """self + alpha·other."""
        if other.second is None:
            second = self.second
        elif self.second is None:
            second = other.second if alpha == 1.0 else other.second * scalar(alpha, other.second)
        else:
            second = torch.add(self.second, other.second, alpha=alpha)
        return self._with(torch.add(self.real, other.real, alpha=alpha),
                          torch.add(self.first, other.first, alpha=alpha), second)

    def scale(self, c: float) -> SecondOrderJet:
        second = None if self.second is None else self.second * scalar(c, self.second)
        return self._with(self.real * scalar(c, self.real), self.first * scalar(c, self.first), second)

    def add_activated(self, z: SecondOrderJet, fn: ElementwiseFunction, alpha: float) -> SecondOrderJet:
        """self + alpha·f(z)."""
        return self.add(z.elementwise(fn), alpha)

    def second_or_zeros(self) -> Tensor:
        """``second``, or its zeros while the state is still affine in x (the network has no σ)."""
        if self.second is not None:
            return self.second
        shape = self.real.shape if self.pairs is None else (len(self.pairs[0]), *self.real.shape)
        return self.real.new_zeros(shape)

    def _first_products(self) -> Tensor:
        if self.pairs is None:
            return self.first.square().sum(0)
        a, b = self.pairs
        return self.first[a] * self.first[b]

    def elementwise(self, fn: ElementwiseFunction) -> SecondOrderJet:
        """f(x + ε): first ↦ f'·first, second ↦ f'·second + f''·(first_a ⊙ first_b)."""
        f0, f1, f2 = fn.derivatives(self.real, 2)
        second = f2 * self._first_products()
        if self.second is not None:
            second = second + f1 * self.second
        return self._with(f0, f1 * self.first, second)
