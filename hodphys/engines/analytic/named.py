"""A forward jet of exactly the partials a residual names (``hp.partials(..., method="jet")``), written
to be traced whole by ``torch.compile``.

Glossary: N points, d inputs, w a layer's width, m outputs, P tangent rows, Q recipe rows, K = P + Q.

The state holds the value u (N, w) and K rows (K, N, w) — (K, 1, w) while they are the same for every
sample, i.e. until the first σ:

* P tangent rows ∂u/∂x_i, for the inputs a first partial or a recipe's products read;
* Q recipe rows, each c = Σ_i α_i ∂u/∂x_i + Σ_(a,b) β_ab ∂²u/∂x_a∂x_b: one second partial (β = 1 at one
  pair), a Laplacian (β = 1 on the diagonal), or a declared linear combination — the *collapsed*
  Taylor mode of Dangel et al. (2024): u_t − ν u_xx is one row, and u_t needs no tangent of its own.

The layer rules are the analytic engine's (:mod:`hodphys.engines.rules`); this state answers them:

    linear   u ↦ W u + b,  rows ↦ W rows
    σ        u ↦ σ(z),  tangents ↦ σ′(z) ⊙ Dz,  recipe c ↦ σ′(z) ⊙ c + σ″(z) ⊙ Σ_ab β_ab Dz_a ⊙ Dz_b

(the α part is first order and rides along linearly: that is what makes a combination collapsible).
Indices and recipes are static Python; there is no data-dependent branch and no ``.item()``, so
torch.compile traces the whole sweep as one graph, and ∇θ of a loss on it is one ordinary backward
(no double backward, which aot_autograd cannot compile).
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from hodphys.elementwise import ElementwiseFunction
from hodphys.engines import cost
from hodphys.engines.analytic.rules import compile_model

Coefficient = float | Tensor | Callable[[], Tensor]  # a 0-d tensor may train (an inverse problem's κ);
# a callable is read at each sweep (−κ of a trainable κ)
JET_OPS = (2.0, 3.0, 2.0)  # tensor ops per layer: linear (value, rows), σ (σ, σ′, σ′·rows), per product
COMPILED_ELEMENTWISE = 0.25  # share of the elementwise work left once torch.compile fuses σ, σ′, σ″ and the products
COMPILED_OPS = 0.2  # share of the per-op price left in a compiled graph (no dispatch, fewer buffers)


@dataclass(frozen=True)
class Recipe:
    """c = Σ α_i ∂_i u + Σ β_ab ∂²_ab u: ``first`` ((i, α_i), …), ``second`` ((a, b, β_ab), …) with a, b
    positions among the jet's tangent rows."""

    first: tuple[tuple[int, Coefficient], ...] = ()
    second: tuple[tuple[int, int, Coefficient], ...] = ()


def coefficient(c: Coefficient) -> float | Tensor:
    """The coefficient's current value (a callable is called)."""
    return c() if callable(c) else c


def _times(c: Coefficient, t: Tensor) -> Tensor:
    return t if isinstance(c, float) and c == 1.0 else t * coefficient(c)


class NamedJet:
    """value (N, w) and ``rows``, a list of P + Q tensors (N or 1, w), along ``tangents`` and ``recipes``
    (module doc). One tensor per row, not one stacked (K, N, w): compiled, each row's matmul and σ
    products fuse without the slices and concatenations a stack needs (1.4× faster per training step)."""

    __slots__ = ("value", "rows", "n_tangents", "recipes")

    def __init__(self, value: Tensor, rows: list[Tensor], n_tangents: int, recipes: Sequence[Recipe]):
        self.value, self.rows, self.n_tangents, self.recipes = value, rows, n_tangents, recipes

    @classmethod
    def seed(cls, x: Tensor, tangents: Sequence[int], recipes: Sequence[Recipe]) -> NamedJet:
        """x (N, d); tangent rows e_i and recipe rows Σ α_i e_i, shared by every sample (1, d)."""
        eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
        rows = [eye[i:i + 1] for i in tangents]
        for recipe in recipes:
            rows.append(sum((_times(c, eye[i:i + 1]) for i, c in recipe.first), torch.zeros_like(eye[:1])))
        return cls(x, rows, len(tangents), recipes)

    def _like(self, value: Tensor, rows: list[Tensor]) -> NamedJet:
        return NamedJet(value, rows, self.n_tangents, self.recipes)

    def linear(self, weight: Tensor, bias: Tensor | None = None) -> NamedJet:
        rows = [torch.nn.functional.linear(row, weight) for row in self.rows]
        return self._like(torch.nn.functional.linear(self.value, weight, bias), rows)

    def scale(self, c: float) -> NamedJet:
        return self._like(self.value * c, [row * c for row in self.rows])

    def add(self, other: NamedJet, alpha: float = 1.0) -> NamedJet:
        rows = [torch.add(a, b, alpha=alpha) for a, b in zip(self.rows, other.rows)]
        return self._like(torch.add(self.value, other.value, alpha=alpha), rows)

    def add_activated(self, z: NamedJet, fn: ElementwiseFunction, alpha: float) -> NamedJet:
        return self.add(z.elementwise(fn), alpha)

    def _curvature(self, recipe: Recipe, products: dict) -> Tensor | None:
        """Σ_ab β_ab Dz_a ⊙ Dz_b of one recipe (N or 1, w), each product formed once; None without pairs."""
        terms = []
        for a, b, c in recipe.second:
            key = (min(a, b), max(a, b))
            if key not in products:
                products[key] = self.rows[a] * self.rows[b]
            terms.append(_times(c, products[key]))
        return sum(terms[1:], terms[0]) if terms else None

    def elementwise(self, fn: ElementwiseFunction) -> NamedJet:
        if not self.rows:
            return self._like(fn(self.value), [])
        curved = any(r.second for r in self.recipes)
        f = fn.derivatives(self.value, 2 if curved else 1)
        p, products = self.n_tangents, {}
        rows = [f[1] * t for t in self.rows[:p]]
        for recipe, row in zip(self.recipes, self.rows[p:]):
            curvature = self._curvature(recipe, products)
            rows.append(f[1] * row if curvature is None else torch.addcmul(f[1] * row, f[2], curvature))
        return self._like(f[0], rows)


def supports(model: nn.Module) -> bool:
    """Whether every layer of the model has an analytic rule (the jet runs those rules)."""
    try:
        compile_model(model)
    except (NotImplementedError, ValueError):
        return False
    return True


def named_jet(model: nn.Module, x: Tensor, tangents: Sequence[int], recipes: Sequence[Recipe],
              rules: Sequence | None = None) -> tuple[Tensor, list[Tensor]]:
    """The model's value (N, m) and P + Q rows (N, m) each: tangents ∂u/∂x_i for i in ``tangents``, then one
    row per recipe; ``rules``: the model's compiled rules, if the caller has them. NotImplementedError
    names a layer without an analytic rule."""
    state = NamedJet.seed(x, tangents, recipes)
    for rule in compile_model(model) if rules is None else rules:
        state, _ = rule.apply(state)
    n, m = state.value.shape  # a row that never met σ (an affine network) is still (1, m)
    return state.value, [row.expand(n, m) for row in state.rows]


def jet_cost(model: nn.Module, n: int, d: int, tangents: int, recipes: Sequence[Recipe], compiled: bool) -> float:
    """The shared cost model's estimate of :func:`named_jet` (same currency as the engines'): 1 + K rows
    through the linear maps, σ′ on K rows and σ″ products per recipe pair at each site, ops per layer;
    under torch.compile the elementwise work and op price shrink (fused kernels)."""
    sizes = cost.network_sizes(model, d)
    pairs = len({(min(a, b), max(a, b)) for r in recipes for a, b, _ in r.second})
    rows = 1 + tangents + len(recipes)
    elementwise = cost.ELEMENTWISE * sizes.sites * n * (rows + pairs + len(recipes))
    ops = JET_OPS[0] + JET_OPS[1] + JET_OPS[2] * pairs
    if compiled:
        elementwise, ops = COMPILED_ELEMENTWISE * elementwise, COMPILED_OPS * ops
    return n * rows * sizes.linear + elementwise + cost.launches(sizes, 1, ops)


@dataclass(frozen=True)
class Layout:
    """Which rows a jet carries for a set of partials: ``tangents`` (input indices), ``recipes``, and
    ``row`` — ("first", i), ("second", i, j) with i ≤ j, ("lap",) or ("combo", name) → row index."""

    tangents: tuple[int, ...]
    recipes: tuple[Recipe, ...]
    row: dict


def layout(first: Sequence[int], second: Sequence[tuple[int, int]], laplacian: bool, spatial: Sequence[int],
           combos: dict[str, tuple[Sequence[tuple[int, Coefficient]], Sequence[tuple[int, int, Coefficient]]]]
           ) -> Layout:
    """The fewest rows for first partials along ``first``, second partials at ``second`` (i ≤ j),
    Δ over ``spatial`` and named combinations {name: (((i, α_i), …), ((a, b, β_ab), …))}: a tangent
    for every input a first partial or a product reads, one recipe per second partial, Δ and combination."""
    pairs = [*second, *((i, i) for i in spatial if laplacian)]
    pairs += [(a, b) for _, seconds in combos.values() for a, b, _ in seconds]
    tangents = tuple(sorted(set(first) | {i for pair in pairs for i in pair}))
    at = {i: p for p, i in enumerate(tangents)}
    row = {("first", i): at[i] for i in first}
    recipes: list[Recipe] = []

    def add(key: tuple, recipe: Recipe) -> None:
        row[key] = len(tangents) + len(recipes)
        recipes.append(recipe)

    for i, j in sorted(set(second)):
        add(("second", i, j), Recipe((), ((at[i], at[j], 1.0),)))
    if laplacian:
        add(("lap",), Recipe((), tuple((at[i], at[i], 1.0) for i in spatial)))
    for name, (firsts, seconds) in combos.items():
        add(("combo", name), Recipe(tuple(firsts), tuple((at[a], at[b], c) for a, b, c in seconds)))
    return Layout(tangents, tuple(recipes), row)
