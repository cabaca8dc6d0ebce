"""Walk a network into its layers, check that they compose, and run an engine's rules over them.

An engine compiles a network into one rule per layer, each with ``apply(state) -> (state, saved)``
and ``backward(adjoint, saved) -> adjoint``; :func:`run_rules` and :func:`run_adjoint` are the two
sweeps every engine makes with them.
"""
from __future__ import annotations

import functools
import weakref
from typing import Any, TypeVar
from collections.abc import Callable, Sequence

from torch import nn

T = TypeVar("T")


def is_plain_sequential(module: nn.Module) -> bool:
    """An nn.Sequential (or subclass) whose forward is Sequential's: it only chains its children."""
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def leaf_layers(model: nn.Module, path: str = "model") -> list[tuple[str, nn.Module]]:
    """The layers a plain (possibly nested) nn.Sequential chains, in order, with their paths.

    Iterates ``_modules`` rather than ``named_children``, which skips a module that appears
    twice (e.g. one activation instance reused between layers).
    """
    if not is_plain_sequential(model):
        return [(path, model)]
    layers: list[tuple[str, nn.Module]] = []
    for name, child in model._modules.items():
        if child is not None:
            layers.extend(leaf_layers(child, f"{path}[{name}]"))
    return layers


def _leaves(model: nn.Module, out: list[nn.Module]) -> list[nn.Module]:
    """The layers :func:`leaf_layers` returns, without building their paths (a cache key)."""
    for child in model._modules.values():
        if child is None:
            continue
        if is_plain_sequential(child):
            _leaves(child, out)
        else:
            out.append(child)
    return out


def leaf_structure(model: nn.Module) -> tuple[nn.Module, ...] | None:
    """The leaf layers of a plain nn.Sequential as a tuple (the key of :func:`cached_by_structure`),
    None for any other model."""
    return tuple(_leaves(model, [])) if is_plain_sequential(model) else None


def leaf_modules(model: nn.Module) -> list[nn.Module]:
    """The layers of :func:`leaf_layers` without their paths."""
    return _leaves(model, []) if is_plain_sequential(model) else [model]


def check_composition(layers: list[tuple[str, nn.Module]]) -> None:
    """ValueError if a layer's in_features differs from the width before it, or an output layer
    (``terminal``, e.g. QuadraticLayer) is not last."""
    width, source = None, None
    for i, (path, layer) in enumerate(layers):
        if getattr(layer, "terminal", False) and i < len(layers) - 1:
            raise ValueError(
                f"{path} ({type(layer).__name__}) is an output layer (it maps to a scalar) and must "
                f"be the last layer; it is followed by {layers[i + 1][0]} ({type(layers[i + 1][1]).__name__})"
            )
        features = getattr(layer, "in_features", None)
        if isinstance(features, int) and width is not None and features != width:
            raise ValueError(
                f"{path} ({type(layer).__name__}) expects in_features={features}, but {source} "
                f"gives {width} features; expected matching widths between consecutive layers"
            )
        out = getattr(layer, "out_features", None)
        if isinstance(out, int):
            width, source = out, f"{path} ({type(layer).__name__})"


def submodules(model: nn.Module) -> tuple[nn.Module, ...]:
    """Every module below model (not model itself), by identity: the structure of any model."""
    return tuple(module for module in model.modules() if module is not model)


def cached_by_structure(fn: Callable[..., T] | None = None, *, key_args: int | None = None,
                        any_model: bool = False):
    """Cache ``fn(model, *args)`` per model while its layers are the same objects.

    Engines compile a model into rules several times per call (``auto`` asks every engine
    whether it can and at what cost); rules read the parameters when they run, so only the
    layer structure has to match: the identity of every leaf layer. The first ``key_args``
    arguments (all by default) select the entry; any after them are passed through unkeyed.

    The entry holds the leaf layers themselves (compared by identity), not their ids: a layer
    replaced since stays alive until the model's next call, so its id cannot be reused by a new
    layer that would then match. Only leaves are keyed — what fn reads must be the leaves' own
    attributes or be read again on each call (a rule reads the module when it runs).

    ``layers=`` passes the model's current leaves (:func:`leaf_structure`) when the caller has
    them already: a derivative call walks its model once (:class:`hodphys.request.Request`).

    Other models are called through, unless ``any_model``: then they are keyed by all their
    :func:`submodules` — only for an fn whose result holds no reference to the model (the entry
    would keep it alive).
    """
    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        cache: weakref.WeakKeyDictionary[nn.Module, tuple] = weakref.WeakKeyDictionary()

        @functools.wraps(fn)
        def wrapper(model: nn.Module, *args: Any, layers: tuple[nn.Module, ...] | None = None) -> T:
            if not is_plain_sequential(model):  # a single layer: cheap, and rules would keep it alive
                if not any_model:
                    return fn(model, *args)
                layers = submodules(model)
            elif layers is None:
                layers = tuple(_leaves(model, []))
            key = args if key_args is None else args[:key_args]
            known, values = cache.get(model, (None, {}))
            if known != layers:
                values = {}
                cache[model] = (layers, values)
            if key not in values:
                values[key] = fn(model, *args)
            return values[key]

        return wrapper

    return decorate if fn is None else decorate(fn)


def run_rules(rules: Sequence[Any], state: Any, save: bool = False) -> tuple[Any, list]:
    """Apply the rules in order; with ``save``, keep what each rule's backward needs."""
    saved = []
    for rule in rules:
        state, kept = rule.apply(state)
        if save:
            saved.append(kept)
        del kept  # not alive while the next rule runs
    return state, saved


def run_adjoint(rules: Sequence[Any], saved: list, adjoint: Any) -> Any:
    """Apply the rules' transposes from the output back to the input; empties ``saved`` as it
    goes, so each saved state is freed once used."""
    for rule in reversed(rules):
        adjoint = rule.backward(adjoint, saved.pop())
    return adjoint
