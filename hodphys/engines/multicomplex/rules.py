"""Per-layer rules of the multicomplex engine: one rule per layer type.

A rule reads the user's module (its parameters are used as they are, so gradients flow to
them) and offers

* ``apply(state) -> (state, saved)``: the layer on a :class:`Jet` or :class:`SecondOrderJet`;
* ``backward(adjoint, saved) -> adjoint``: the layer's transposed Jacobian on a Jet of adjoints,
  evaluated in multicomplex arithmetic (CSFD-BP).

Covered: ``nn.Linear``, every activation :func:`hodphys.elementwise.elementwise_of` knows,
the skip-plus-branch layers of :mod:`hodphys.nn.block` (ResidualBlock, ICNNLayer, QuadraticLayer,
QuadraticICNNLayer), and ``nn.Sequential`` of those (nested too). More with :func:`register_rule`.
"""
from __future__ import annotations

from typing import Any, Protocol
from collections.abc import Callable

from torch import nn

from hodphys.elementwise import ElementwiseFunction, current_function, elementwise_of
from hodphys.nn.block import BranchBlock, propagate, propagate_adjoint
from hodphys.nn.compose import cached_by_structure, check_composition, leaf_layers
from hodphys.nn.icnn import ICNNLayer, QuadraticICNNLayer, QuadraticLayer
from hodphys.nn.residual import ResidualBlock


class Rule(Protocol):
    def apply(self, state: Any) -> tuple[Any, Any]: ...

    def backward(self, adjoint: Any, saved: Any) -> Any: ...


class LinearRule:
    """y = W x + b; adjoint: ḡ_x = Wᵀ ḡ_y."""

    def __init__(self, module: nn.Linear):
        self.module = module

    def apply(self, state):
        return state.linear(self.module.weight, self.module.bias), None

    def backward(self, adjoint, saved):
        return adjoint.transposed_linear(self.module.weight)


def _through_activation(fn: ElementwiseFunction):
    """(ḡ_a, z, q) ↦ ḡ_z = σ'(z) ⊙ q·ḡ_a, with σ'(z) evaluated in multicomplex arithmetic."""
    def through(adjoint, z, scale: float = 1.0):
        adjoint = adjoint if scale == 1.0 else adjoint.scale(scale)
        return adjoint.times(z.elementwise(fn, shift=1).with_seed_axis())

    return through


class ElementwiseRule:
    """y = σ(x); adjoint: ḡ_x = σ'(x) ⊙ ḡ_y with σ'(x) a multicomplex number too."""

    def __init__(self, module: nn.Module):
        self.module = module  # σ is read when the rule runs: settings may change after compiling

    def apply(self, state):
        fn = current_function(self.module)
        return state.elementwise(fn), (state, fn)

    def backward(self, adjoint, saved):
        state, fn = saved
        return _through_activation(fn)(adjoint, state)


class BlockRule:
    """y = S u + c + Q σ(K u + b) (residual, ICNN, quadratic layers); adjoint Sᵀḡ + Kᵀ(σ'⊙Qᵀḡ)."""

    def __init__(self, module: BranchBlock):
        self.module = module

    def apply(self, state):
        branch = self.module.branch()
        out, z = propagate(state, branch)
        return out, (z, branch)

    def backward(self, adjoint, saved):
        z, branch = saved
        return propagate_adjoint(adjoint, z, branch, _through_activation(branch.function))


_RULES: dict[type, Callable[[nn.Module], Rule]] = {
    nn.Linear: LinearRule,
    ResidualBlock: BlockRule,
    ICNNLayer: BlockRule,
    QuadraticLayer: BlockRule,
    QuadraticICNNLayer: BlockRule,
}


def register_rule(module_type: type, factory: Callable[[nn.Module], Rule]) -> None:
    """Teach the multicomplex engine a layer type (exact type match)."""
    _RULES[module_type] = factory


@cached_by_structure
def compile_model(model: nn.Module) -> list[Rule]:
    """The model as a flat list of rules; NotImplementedError names the first uncovered module,
    ValueError a composition that does not fit (see :func:`hodphys.nn.check_composition`)."""
    layers = leaf_layers(model)
    check_composition(layers)
    rules: list[Rule] = []
    for path, module in layers:
        factory = _RULES.get(type(module))
        if factory is not None:
            rules.append(factory(module))
            continue
        fn = elementwise_of(module)
        if fn is None:
            raise NotImplementedError(
                f"no multicomplex rule for {type(module).__name__} (at {path}); "
                f"covered: nn.Sequential of nn.Linear, elementwise activations and "
                f"hodphys.nn layers (register more with hodphys.engines.multicomplex.register_rule)"
            )
        rules.append(ElementwiseRule(module))
    return rules
