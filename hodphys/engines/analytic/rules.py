"""Per-layer rules of the analytic engine: one rule per layer type, forward and backward mode.

A rule reads the user's module (parameters used as they are, so losses on derivatives
backpropagate to them) and offers

* ``apply(jet) -> (jet, saved)``: the layer on a :class:`~hodphys.engines.analytic.jet.Jet`;
* ``backward(adjoint, saved) -> adjoint``: its transpose on an :class:`~hodphys.engines.analytic.adjoint.Adjoint`;
* ``shape``: (linear multiply-adds per row, activation sites' total width, output width) for the
  cost model.

Covered: ``nn.Linear``, every activation :func:`hodphys.elementwise.elementwise_of` knows, and
every :class:`hodphys.nn.BranchBlock` (residual, ICNN, quadratic, quadratic-ICNN), in plain
(nested) ``nn.Sequential``. More with :func:`register_rule`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

from torch import nn

from hodphys.engines.analytic.adjoint import Adjoint
from hodphys.engines.analytic.jet import Jet
from hodphys.elementwise import ElementwiseFunction, current_function, elementwise_of
from hodphys.nn.access import parameter
from hodphys.nn.block import BranchBlock, follows_branch, propagate, propagate_adjoint
from hodphys.nn.compose import cached_by_structure, check_composition, leaf_layers


@dataclass(frozen=True)
class Shape:
    """What one layer costs per row: multiply-adds of its linear maps, width of its σ sites."""

    linear: int
    sites: int
    width: int  # output width


class LinearRule:
    """y = W x + b; adjoint ḡ_x = Wᵀ ḡ_y."""

    def __init__(self, module: nn.Linear, width: int | None):
        self.module = module
        w = module.weight
        self.shape = Shape(w.shape[0] * w.shape[1], 0, w.shape[0])

    def apply(self, jet: Jet) -> tuple[Jet, Any]:
        return jet.linear(parameter(self.module, "weight"), parameter(self.module, "bias")), None

    def backward(self, adjoint: Adjoint, saved: Any) -> Adjoint:
        return adjoint.transposed_linear(parameter(self.module, "weight"))


class ElementwiseRule:
    """y = σ(z); the jet and adjoint classes hold the closed forms (σ, σ′, σ″, σ‴ from elementwise).

    σ is read from the module when the rule runs, so a setting changed since (Softplus β, ELU α)
    is honoured; the forward sweep hands it to the backward one.
    """

    def __init__(self, module: nn.Module, width: int | None):
        self.module = module
        self.shape = Shape(0, width or 0, width or 0)

    def apply(self, jet: Jet) -> tuple[Jet, Any]:
        fn = current_function(self.module)
        return jet.elementwise(fn), (jet, fn)

    def backward(self, adjoint: Adjoint, saved: tuple[Jet, ElementwiseFunction]) -> Adjoint:
        jet, fn = saved
        return adjoint.elementwise(fn, jet)


def _numel(m: Any) -> int:
    return 0 if isinstance(m, float) else m.numel()


class BlockRule:
    """y = S u + c + Q σ(K u + b), composed by :func:`hodphys.nn.block.propagate` (and its adjoint)."""

    def __init__(self, module: BranchBlock, width: int | None):
        self.module = module
        br = module.branch()
        out = br.outer.shape[0] if not isinstance(br.outer, float) else br.inner.shape[0]
        self.shape = Shape(_numel(br.skip) + br.inner.numel() + _numel(br.outer), br.inner.shape[0], out)

    def apply(self, jet: Jet) -> tuple[Jet, Any]:
        branch = self.module.branch()
        out, z = propagate(jet, branch)
        return out, (z, branch)

    def backward(self, adjoint: Adjoint, saved: Any) -> Adjoint:
        z, branch = saved
        return propagate_adjoint(adjoint, z, branch, lambda g, z, q: g.elementwise(branch.function, z, q))


_RULES: dict[type, Callable[[nn.Module, int | None], Any]] = {nn.Linear: LinearRule}


def register_rule(module_type: type, factory: Callable[[nn.Module, int | None], Any]) -> None:
    """Teach the analytic engine a layer type (exact type match); factory(module, input width)."""
    _RULES[module_type] = factory


@cached_by_structure
def compile_model(model: nn.Module) -> list[Any]:
    """The model as a flat list of rules; NotImplementedError names the first uncovered module,
    ValueError a composition that does not fit (see :func:`hodphys.nn.check_composition`)."""
    layers = leaf_layers(model)
    if not layers:
        raise NotImplementedError("the analytic engine needs at least one layer, got an empty nn.Sequential")
    check_composition(layers)
    rules, width = [], getattr(layers[0][1], "in_features", None)
    for path, module in layers:
        factory = _RULES.get(type(module))
        if factory is None and isinstance(module, BranchBlock) and follows_branch(module):
            factory = BlockRule
        fn = elementwise_of(module) if factory is None else None
        if factory is None and fn is None:
            raise NotImplementedError(
                f"no analytic rule for {type(module).__name__} ({module!r} at {path}); covered: "
                f"nn.Sequential of nn.Linear, elementwise activations and hodphys.nn layers "
                f"(register more with hodphys.engines.analytic.register_rule)"
            )
        rule = factory(module, width) if fn is None else ElementwiseRule(module, width)
        rules.append(rule)
        width = rule.shape.width or width
    return rules
