"""Per-layer rules of the multicomplex engine: one rule per layer type.

A rule reads the user's module (its parameters are used as they are, so gradients flow to
them) and offers

* ``apply(state) -> (state, saved)``: the layer on a :class:`Jet` or :class:`SecondOrderJet`;
* ``backward(adjoint, saved) -> adjoint``: the layer's transposed Jacobian on a Jet of adjoints,
  evaluated in multicomplex arithmetic (CSFD-BP).

Covered: ``nn.Linear``, every activation :func:`hodphys.elementwise.elementwise_of` knows,
:class:`hodphys.nn.ResidualBlock`, and ``nn.Sequential`` of those (nested too). More with
:func:`register_rule`.
"""
from __future__ import annotations

from typing import Any, Protocol
from collections.abc import Callable

from torch import nn

from hodphys.elementwise import ElementwiseFunction, elementwise_of
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
        return adjoint.linear(self.module.weight.t())


class ElementwiseRule:
    """y = σ(x); adjoint: ḡ_x = σ'(x) ⊙ ḡ_y with σ'(x) a multicomplex number too."""

    def __init__(self, fn: ElementwiseFunction):
        self.fn = fn

    def apply(self, state):
        return state.elementwise(self.fn), state

    def backward(self, adjoint, saved):
        return adjoint.times(saved.elementwise(self.fn, shift=1).with_seed_axis())


class ResidualRule:
    """y = u + step·σ(K u + b); adjoint: ḡ_u = ḡ_y + Kᵀ(step·σ'(K u + b) ⊙ ḡ_y)."""

    def __init__(self, module: ResidualBlock):
        self.module = module
        self.fn = elementwise_of(module.activation)

    def apply(self, state):
        z = state.linear(self.module.linear.weight, self.module.linear.bias)
        return state.add(z.elementwise(self.fn).scale(self.module.step)), z

    def backward(self, adjoint, saved):
        branch = adjoint.times(saved.elementwise(self.fn, shift=1).with_seed_axis())
        return adjoint.add(branch.scale(self.module.step).linear(self.module.linear.weight.t()))


_RULES: dict[type, Callable[[nn.Module], Rule]] = {
    nn.Linear: LinearRule,
    ResidualBlock: ResidualRule,
}


def register_rule(module_type: type, factory: Callable[[nn.Module], Rule]) -> None:
    """Teach the multicomplex engine a layer type (exact type match)."""
    _RULES[module_type] = factory


def _is_plain_sequential(module: nn.Module) -> bool:
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def compile_model(model: nn.Module) -> list[Rule]:
    """The model as a flat list of rules; NotImplementedError names the first uncovered module."""
    rules: list[Rule] = []

    def visit(module: nn.Module, path: str) -> None:
        if _is_plain_sequential(module):
            for name, child in module.named_children():
                visit(child, f"{path}[{name}]")
            return
        factory = _RULES.get(type(module))
        if factory is not None:
            rules.append(factory(module))
            return
        fn = elementwise_of(module)
        if fn is None:
            raise NotImplementedError(
                f"no multicomplex rule for {type(module).__name__} (at {path}); "
                f"covered: nn.Sequential of nn.Linear, elementwise activations and "
                f"hodphys.nn layers (register more with hodphys.multicomplex.register_rule)"
            )
        rules.append(ElementwiseRule(fn))

    visit(model, "model")
    return rules
