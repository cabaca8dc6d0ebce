"""Normalise a call's inputs once into a frozen :class:`Request` that every engine receives.

Glossary: B the caller's leading batch shape, N = prod(B) (the flattened batch), d input
features, m output features, n derivative order, P perturbations, S adjoint seeds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hodphys.checks import check_integers
from hodphys.elementwise import elementwise_of
from hodphys.nn.compose import leaf_structure
from hodphys.shapes import broadcast_shape

FLOAT_DTYPES = (torch.float32, torch.float64)


def _declared(module: nn.Module, name: str) -> int | None:
    """An int attribute the module declares (instance attribute or property), else None.

    Looked up without nn.Module.__getattr__, whose miss raises and catches an AttributeError.
    """
    value = module.__dict__.get(name)
    if value is None and hasattr(type(module), name):
        value = getattr(module, name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _keeps_width(module: nn.Module) -> bool:
    """An elementwise layer: the features it passes on are as many as it receives."""
    return elementwise_of(module) is not None or type(module) in (nn.Identity, nn.Dropout)


def _chain_end(name: str, leaves: Sequence[nn.Module]) -> int | None:
    """``name`` (in/out_features) of a chain: declared by the first (last) leaf that is not
    elementwise; None if that leaf is a module whose width the engines cannot know."""
    for leaf in leaves:
        declared = _declared(leaf, name)
        if declared is not None:
            return declared
        if not _keeps_width(leaf):
            return None
    return None


_WALK: Any = object()  # default of ``layers``: walk the model for them


def input_features(model: nn.Module, layers: tuple[nn.Module, ...] | None = _WALK) -> int | None:
    """d of a model, where it is known without running it: its own ``in_features``, or in a plain
    nn.Sequential that of the first layer that reads its input (elementwise layers pass it on).
    None for anything else (a custom module may reorder, expand or ignore its submodules).
    ``layers``: the model's :func:`~hodphys.nn.compose.leaf_structure`, when the caller has it."""
    own = _declared(model, "in_features")
    layers = leaf_structure(model) if layers is _WALK else layers
    if own is not None or layers is None:
        return own
    return _chain_end("in_features", layers)


def output_features(model: nn.Module, layers: tuple[nn.Module, ...] | None = _WALK) -> int | None:
    """m of a model, where it is known without running it: its own ``out_features``, or in a plain
    nn.Sequential that of the last layer that sets the width; None otherwise (then
    :func:`make_request` runs the model on one sample to find it); ``layers`` as for
    :func:`input_features`."""
    own = _declared(model, "out_features")
    layers = leaf_structure(model) if layers is _WALK else layers
    if own is not None or layers is None:
        return own
    return _chain_end("out_features", layers[::-1])


def _probe_outputs(call: str, model: nn.Module, x: Tensor) -> int:
    """m of a model that does not declare it: one forward pass on one sample (no graph, and the
    random number generators left as they were, in case the model draws from them)."""
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        y = model(x[:1])
    if not isinstance(y, Tensor):
        raise TypeError(f"{call}: expected the model to return a tensor of shape (*B, m), got {type(y).__name__}")
    if y.ndim != 2 or y.shape[0] != x[:1].shape[0]:
        raise ValueError(
            f"{call}: expected the model to map x of shape (*B, d) to (*B, m), got output of "
            f"shape {tuple(y.shape)} for input of shape {tuple(x[:1].shape)}"
        )
    return y.shape[1]


@dataclass(slots=True)
class Request:
    """One derivative request, normalised; engines read it and never change it (not frozen: a
    frozen dataclass's __init__ costs ≈2 µs, a tenth of a batch-10 Hessian's overhead).

    Attributes:
        call: how the user called us, for messages, e.g. ``"hp.laplacian(model, x)"``.
        quantity: "jacobian", "hessian", "laplacian", "hvp", "directional", "directional_grad",
            "dim_derivative", "divergence" or "derivatives".
        x: inputs flattened to (N, d).
        batch_shape: B, restored on every result by :meth:`unflatten`.
        d, m: input and output features (m declared by the model's layers, else found by running it).
        vectors: directions, each (N, d) or (1, d) (hvp's v, directional's vs).
        weight: left contraction w, (N, m) or (1, m), or None.
        order: k for dim_derivative.
        want: for ``derivatives``: the subset of {"jacobian", "hessian", "laplacian"} asked for.
        options: engine options (e.g. ``h`` for multicomplex).
        layers: the model's leaf layers when it is a plain nn.Sequential (None otherwise), walked
            once per call and handed to the engines' structure caches (``cached_by_structure``).
    """

    call: str
    quantity: str
    model: nn.Module
    x: Tensor
    batch_shape: torch.Size
    d: int
    m: int
    vectors: tuple[Tensor, ...] = ()
    weight: Tensor | None = None
    order: int = 0
    want: frozenset[str] = frozenset()
    options: dict[str, Any] = field(default_factory=dict)
    layers: tuple[nn.Module, ...] | None = None

    @property
    def n_batch(self) -> int:
        return self.x.shape[0]

    def unflatten(self, t: Tensor | None) -> Tensor | None:
        """(N, …) → (*B, …)."""
        if t is None or (len(self.batch_shape) == 1 and t.shape[0] == self.batch_shape[0]):
            return t  # already (N, …): no reshape op (a few µs of a batch-10 call)
        return t.reshape(tuple(self.batch_shape) + tuple(t.shape[1:]))


def check_order(call: str, k: Any) -> int:
    """k for dim_derivative: an integer ≥ 1 (bool is not an order)."""
    check_integers(call, 1, k=k)
    return k


def _check_tensor(call: str, name: str, t: Any) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{call}: expected {name} to be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{call}: expected {name} of dtype float32 or float64, got {t.dtype}; "
            f"convert with {name}.float() or {name}.double()"
        )
    return t


def _first_parameter(module: nn.Module) -> Tensor | None:
    """The first parameter ``module.named_parameters()`` yields (own ones first, then the
    children's in order), found without that generator's recursion machinery (≈5 µs a call)."""
    for p in module._parameters.values():
        if p is not None:
            return p
    for child in module._modules.values():
        p = None if child is None else _first_parameter(child)
        if p is not None:
            return p
    return None


def _check_model(call: str, model: Any, x: Tensor) -> None:
    """The model is a module whose (first) parameter has x's dtype and device."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{call}: expected model to be a torch.nn.Module, got {type(model).__name__}")
    first = _first_parameter(model)
    if first is None or ((not first.is_floating_point() or first.dtype == x.dtype) and first.device == x.device):
        return
    for name, p in model.named_parameters():  # the mismatch, with the parameter's name
        if p.is_floating_point() and p.dtype != x.dtype:
            raise TypeError(
                f"{call}: x is {x.dtype} but the model's parameter {name!r} is {p.dtype}; "
                f"use model.to({x.dtype}) or x.to({p.dtype})"
            )
        if p.device != x.device:
            raise ValueError(
                f"{call}: x is on {x.device} but the model's parameter {name!r} is on {p.device}; "
                f"move one of them"
            )
        break


def _flatten_batched(call: str, name: str, t: Tensor, batch_shape: torch.Size, features: int,
                     what: str, x: Tensor) -> Tensor:
    """Broadcast t (…, features) against B; returns (1, features) or (N, features)."""
    t = _check_tensor(call, name, t)
    if t.dtype != x.dtype or t.device != x.device:
        raise TypeError(f"{call}: {name} is {t.dtype} on {t.device} but x is {x.dtype} on {x.device}")
    if t.ndim == 0 or t.shape[-1] != features:
        raise ValueError(
            f"{call}: expected {name}[..., {features}] ({what}), got {name} of shape {tuple(t.shape)}"
        )
    lead = t.shape[:-1]
    if all(s == 1 for s in lead):
        return t.reshape(1, features)
    try:
        full = broadcast_shape(lead, batch_shape)
    except ValueError:
        full = None
    if full != tuple(batch_shape):
        raise ValueError(
            f"{call}: {name} of shape {tuple(t.shape)} does not broadcast against the batch shape "
            f"{tuple(batch_shape)} of x; expected {name} of shape ({features},) or "
            f"{(*batch_shape, features)}"
        )
    return t.expand(*batch_shape, features).reshape(-1, features)


def make_request(call: str, quantity: str, model: nn.Module, x: Tensor, *,
                 vectors: Sequence[Tensor] = (), weight: Tensor | None = None, order: int = 0,
                 want: frozenset[str] = frozenset(), options: dict[str, Any] | None = None) -> Request:
    """Check and normalise the inputs of one public call (raises TypeError/ValueError)."""
    x = _check_tensor(call, "x", x)
    _check_model(call, model, x)
    if x.ndim == 0:
        raise ValueError(f"{call}: expected x of shape (*B, d), got a 0-d tensor")
    layers = leaf_structure(model)
    d = input_features(model, layers)
    if d is not None and x.shape[-1] != d:
        raise ValueError(
            f"{call}: expected x[..., {d}] (the model's first layer has in_features={d}), "
            f"got x of shape {tuple(x.shape)}"
        )
    d = x.shape[-1]
    batch_shape = x.shape[:-1]
    m = output_features(model, layers)
    if m is None:
        m = _probe_outputs(call, model, x.reshape(-1, d))
    flat_vectors = tuple(
        _flatten_batched(call, {"hvp": "v", "derivatives": "third_along"}.get(quantity, f"vs[{i}]"), v, batch_shape, d,
                         "a direction in input space", x)
        for i, v in enumerate(vectors)
    )
    flat_weight = None
    if weight is not None:
        flat_weight = _flatten_batched(call, "w", weight, batch_shape, m,
                                       "a weight on the model's outputs", x)
    return Request(call=call, quantity=quantity, model=model, x=x.reshape(-1, d),  # a view: never x itself
                   batch_shape=batch_shape, d=d, m=m, vectors=flat_vectors, weight=flat_weight,
                   order=order, want=want, options=dict(options or {}), layers=layers)
