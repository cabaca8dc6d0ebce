"""One rule protocol for the layer-rule engines (analytic, multicomplex) and one :func:`register_rule`.

A network is compiled into one rule per leaf layer. A rule reads its module when it runs (so a
setting changed since, or an optimizer step, is honoured and gradients flow to the parameters) and
offers

* ``apply(state) -> (state, saved)``: the layer on the engine's state;
* ``backward(adjoint, saved) -> adjoint``: its transpose on the engine's adjoint (reverse sweeps);
* ``shape`` (optional): a :class:`Shape` for the cost model (else estimated from the parameters).

Every engine's state offers the same operations — ``linear(W, b)``, ``scale(c)``,
``add(other, alpha)``, ``add_activated(z, σ, alpha)``, ``elementwise(σ)`` — and every adjoint
``transposed_linear(W)``, ``scale(c)``, ``add(other)``, ``through_elementwise(σ, z, q)`` (ḡ_z = σ′(z) ⊙ q·ḡ),
so a rule written with them works in each engine. Example, a layer y = 2u::

    class DoublerRule:
        def __init__(self, module): self.module = module
        def apply(self, state): return state.scale(2.0), None
        def backward(self, adjoint, saved): return adjoint.scale(2.0)

    hp.register_rule(Doubler, DoublerRule)        # analytic-forward/-backward and multicomplex
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from torch import nn

from hodphys.elementwise import ElementwiseFunction, current_function, elementwise_of
from hodphys.nn.access import parameter
from hodphys.nn.block import BranchBlock, follows_branch, propagate, propagate_adjoint
from hodphys.nn.compose import cached_by_structure, check_composition, leaf_layers

#: the engines that compile networks into these rules (the analytic name covers both its modes)
RULE_ENGINES = ("analytic", "multicomplex")


@dataclass(frozen=True)
class Shape:
    """What one layer costs per row: multiply-adds of its linear maps, width of its σ sites."""

    linear: int
    sites: int
    width: int  # output width (0: unchanged)


class Rule(Protocol):
    def apply(self, state: Any) -> tuple[Any, Any]: ...

    def backward(self, adjoint: Any, saved: Any) -> Any: ...


RuleFactory = Callable[[nn.Module], Rule]


class LinearRule:
    """y = W x + b; adjoint ḡ_x = Wᵀ ḡ_y."""

    def __init__(self, module: nn.Linear):
        self.module = module
        w = module.weight
        self.shape = Shape(w.shape[0] * w.shape[1], 0, w.shape[0])

    def apply(self, state: Any) -> tuple[Any, Any]:
        return state.linear(parameter(self.module, "weight"), parameter(self.module, "bias")), None

    def backward(self, adjoint: Any, saved: Any) -> Any:
        return adjoint.transposed_linear(parameter(self.module, "weight"))


class ElementwiseRule:
    """y = σ(z); the engines' states hold the closed forms (σ, σ′, σ″, … from :mod:`hodphys.elementwise`).

    σ is read from the module when the rule runs (Softplus β, ELU α may change after compiling);
    the forward sweep hands it to the backward one.
    """

    def __init__(self, module: nn.Module, width: int | None = None):
        self.module = module
        self.shape = Shape(0, width or 0, width or 0)

    def apply(self, state: Any) -> tuple[Any, Any]:
        fn = current_function(self.module)
        return state.elementwise(fn), (state, fn)

    def backward(self, adjoint: Any, saved: tuple[Any, ElementwiseFunction]) -> Any:
        state, fn = saved
        return adjoint.through_elementwise(fn, state)


def _numel(m: Any) -> int:
    return 0 if isinstance(m, float) else m.numel()


class BlockRule:
    """y = S u + c + Q σ(K u + b), composed by :func:`hodphys.nn.block.propagate` (and its adjoint):
    every :class:`~hodphys.nn.BranchBlock` (residual, ICNN, quadratic layers, a user's own)."""

    def __init__(self, module: BranchBlock):
        self.module = module
        br = module.branch()
        out = br.outer.shape[0] if not isinstance(br.outer, float) else br.inner.shape[0]
        self.shape = Shape(_numel(br.skip) + br.inner.numel() + _numel(br.outer), br.inner.shape[0], out)

    def apply(self, state: Any) -> tuple[Any, Any]:
        branch = self.module.branch()
        out, z = propagate(state, branch)
        return out, (z, branch)

    def backward(self, adjoint: Any, saved: Any) -> Any:
        z, branch = saved
        return propagate_adjoint(adjoint, z, branch, lambda g, z, q: g.through_elementwise(branch.function, z, q))


_RULES: dict[type, tuple[RuleFactory, frozenset[str]]] = {nn.Linear: (LinearRule, frozenset(RULE_ENGINES))}


def register_rule(module_type: type, factory: RuleFactory, engines: Iterable[str] = RULE_ENGINES) -> None:
    """Teach the layer-rule engines a layer type (exact type match): ``factory(module) -> rule``.

    ``engines`` limits it to those engines whose state members the rule uses beyond the shared ones.
    """
    engines = frozenset(engines)
    unknown = sorted(engines - set(RULE_ENGINES))
    if unknown or not engines:
        raise ValueError(f"register_rule({module_type.__name__}, …): expected engines among "
                         f"{list(RULE_ENGINES)}, got {sorted(engines)}")
    _RULES[module_type] = (factory, engines)


def _default_shape(module: nn.Module) -> Shape:
    """A registered layer without ``shape``: its parameters as multiply-adds, width unchanged."""
    return Shape(sum(p.numel() for p in module.parameters()), 0, getattr(module, "out_features", 0))


def _rule(engine: str, path: str, module: nn.Module, width: int | None) -> Any:
    factory, engines = _RULES.get(type(module), (None, frozenset()))
    if factory is not None and engine in engines:
        rule = factory(module)
        if not hasattr(rule, "shape"):
            rule.shape = _default_shape(module)
        return rule
    if isinstance(module, BranchBlock) and follows_branch(module):
        return BlockRule(module)
    if elementwise_of(module) is not None:
        return ElementwiseRule(module, width)
    raise NotImplementedError(
        f"no {engine} rule for {type(module).__name__} at {path}; covered: "
        f"nn.Sequential of nn.Linear, elementwise activations and hodphys.nn layers "
        f"(register more with hodphys.register_rule)"
    )


@cached_by_structure
def compile_rules(model: nn.Module, engine: str) -> list[Any]:
    """The model as a flat list of ``engine``'s rules; NotImplementedError names the first uncovered
    module, ValueError a composition that does not fit (see :func:`hodphys.nn.check_composition`)."""
    layers = leaf_layers(model)
    check_composition(layers)
    rules, width = [], getattr(layers[0][1], "in_features", None) if layers else None
    for path, module in layers:
        rule = _rule(engine, path, module, width)
        rules.append(rule)
        width = rule.shape.width or width
    return rules
