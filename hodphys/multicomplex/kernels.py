"""Fused kernels for the split form of a Jet: a real part shared by all perturbations and the
stacked imaginary components (C − 1, P, *R), component S ≠ ∅ at index S − 1 (see jet.py).

Working on the split form never broadcasts the real part across the P perturbations (the
generic :func:`~hodphys.multicomplex.algebra.multiply` stacks it first). Each component is
accumulated in place with ``addcmul_`` on its first term, so there is no zero-filled buffer
(its fill and first-touch page faults cost a quarter of a Hessian) and no gather/index_add
temporaries; in-place ops on fresh tensors are recorded by autograd, so gradients still flow.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import torch
from torch import Tensor


@lru_cache(maxsize=None)
def _set_partitions(mask: int) -> tuple[tuple[int, ...], ...]:
    """Every partition of the set ``mask`` (a bitmask) into blocks, each a tuple of block masks."""
    if mask == 0:
        return ((),)
    low = mask & -mask  # the block holding the lowest element is chosen first: no repeats
    rest = mask ^ low
    found = []
    sub = rest
    while True:
        block = low | sub
        found += [(block, *tail) for tail in _set_partitions(mask ^ block)]
        if sub == 0:
            break
        sub = (sub - 1) & rest
    return tuple(found)


@lru_cache(maxsize=None)
def _faa_di_bruno_table(order: int) -> tuple[tuple[tuple[tuple[int, ...], ...], ...], ...]:
    """Per component U = 1 … 2ⁿ − 1: its partitions grouped by their number of blocks k = 1 … |U|."""
    table = []
    for mask in range(1, 1 << order):
        by_size: list[list[tuple[int, ...]]] = [[] for _ in range(bin(mask).count("1"))]
        for partition in _set_partitions(mask):
            by_size[len(partition) - 1].append(partition)
        table.append(tuple(tuple(group) for group in by_size))
    return tuple(table)


def compose_exact(derivatives: list[Tensor], imag: Tensor, order: int) -> Tensor:
    """Imaginary components of f(x₀ + ε) in the multidual limit h = 0 (multivariate Faà di Bruno).

    f(x₀ + ε)_U = Σ_k f⁽ᵏ⁾(x₀) Σ_{partitions π of U into k blocks} Π_{B ∈ π} ε_B, which equals the
    truncated Taylor series Σ_k f⁽ᵏ⁾/k! (εᵏ)_U term by term.
    derivatives: [f, f', …, f⁽ⁿ⁾], each (*R); imag: ε's components (C − 1, P, *R) → (C − 1, P, *R).
    """
    components = []
    for index, groups in enumerate(_faa_di_bruno_table(order)):
        total = derivatives[1] * imag[index]
        for k, partitions in enumerate(groups[1:], start=2):
            inner = None
            for partition in partitions:
                term = imag[partition[0] - 1]
                for block in partition[1:]:
                    term = term * imag[block - 1]
                inner = term if inner is None else inner + term
            total = _accumulate(total, derivatives[k], inner)
        components.append(total)
    return _stack(components)


def broadcast_shape(*shapes: Sequence[int]) -> torch.Size:
    """The broadcast of the shapes, as torch.broadcast_shapes — which takes ~150 µs a call in
    torch 2.13 (it goes through symbolic-shape guards): as much as a whole batch-1 derivative."""
    sizes = []
    for axis in range(1, max(map(len, shapes), default=0) + 1):
        found = {shape[-axis] for shape in shapes if len(shape) >= axis} - {1}
        if len(found) > 1:
            raise ValueError(f"shapes {[tuple(s) for s in shapes]} do not broadcast: sizes {sorted(found)} "
                             f"at axis -{axis}")
        sizes.append(found.pop() if found else 1)
    return torch.Size(reversed(sizes))


def _accumulate(total: Tensor, a: Tensor, b: Tensor, value: float = 1.0) -> Tensor:
    """total + value·a·b, in place unless a·b broadcasts beyond total's shape."""
    if broadcast_shape(total.shape, a.shape, b.shape) == total.shape:
        return total.addcmul_(a, b, value=value)
    return torch.addcmul(total, a, b, value=value)


def _stack(components: list[Tensor]) -> Tensor:
    """(C − 1, …) from the components (no copy for a single one), broadcast to a common shape."""
    if len(components) == 1:
        return components[0].unsqueeze(0)
    return torch.stack(torch.broadcast_tensors(*components))


@lru_cache(maxsize=None)
def _product_terms(order: int, exact: bool) -> tuple[tuple[tuple[int, int, float], ...], ...]:
    """Per component U ≠ ∅: the (S, T, |S∩T|) with S △ T = U; exact (h = 0) keeps S ∩ T = ∅ only."""
    table = []
    for u in range(1, 1 << order):
        terms = []
        for s in range(1 << order):
            t = s ^ u
            overlap = bin(s & t).count("1")
            if not (exact and overlap):
                terms.append((s, t, overlap))
        table.append(tuple(terms))
    return tuple(table)


def product_imag(a_real: Tensor, a_imag: Tensor, b_real: Tensor, b_imag: Tensor, order: int,
                 h: float) -> Tensor:
    """Imaginary components of the multicomplex product (a_real + a_imag)(b_real + b_imag).

    (ab)'_U = Σ_{S △ T = U} (−h²)^{|S∩T|} a'_S b'_T for U ≠ ∅, with the real parts as the S, T = ∅
    components. a_real (*Ra), a_imag (C − 1, *Ia), likewise b → (C − 1, *broadcast of the rest).
    """
    def component(real: Tensor, imag: Tensor, s: int) -> Tensor:
        return real if s == 0 else imag[s - 1]

    components = []
    for terms in _product_terms(order, h == 0):
        (s, t, overlap), rest = terms[0], terms[1:]
        total = component(a_real, a_imag, s) * component(b_real, b_imag, t)  # s = ∅: no overlap
        for s, t, overlap in rest:
            total = _accumulate(total, component(a_real, a_imag, s), component(b_real, b_imag, t),
                                (-h * h) ** overlap)
        components.append(total)
    return _stack(components)
