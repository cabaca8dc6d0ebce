"""The registry of derivative engines behind ``hp.*`` and the cost-based choice of ``method="auto"``.

An engine is an object with

* ``name`` and ``options`` (the keyword options it accepts, e.g. ``{"h"}``),
* ``unsupported(request) -> str | None``: why it cannot serve a request (None if it can),
* ``cost(request) -> float``: an estimate of the work (multiply-adds) — only ratios matter,
* one method per quantity it serves, named after the quantity, returning flattened (N, …) results
  (``divergence`` may return ``(value, divergence)`` when ``"value" in request.want``; the front
  door evaluates the model itself when it returns the divergence alone),
* optionally ``compute(request)``, which then serves every quantity (an engine that wraps its
  quantity methods, e.g. to replay a recording), and ``cost_settings() -> tuple``, the global
  settings its cost depends on (a change of them invalidates the remembered choices).

Engines register with :func:`register_engine`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from hodphys.engines import footprint
from hodphys.memory_limit import format_bytes
from hodphys.nn.compose import cached_by_structure
from hodphys.request import Request


class Engine(Protocol):
    name: str
    options: frozenset[str]

    def unsupported(self, request: Request) -> str | None: ...

    def cost(self, request: Request) -> float: ...


ENGINES: dict[str, Engine] = {}
#: hooks ``(request, method) -> engine | None`` that serve a composite model (a HardConstraint) from its parts
_COMPOSITES: list[Any] = []
_COST_SETTINGS: dict[str, Engine] = {}  # the engines whose cost depends on global settings


def register_engine(engine: Engine) -> Engine:
    """Add an engine to the front door (its name becomes a valid ``method=``)."""
    ENGINES[engine.name] = engine
    if hasattr(engine, "cost_settings"):
        _COST_SETTINGS[engine.name] = engine
    else:
        _COST_SETTINGS.pop(engine.name, None)
    return engine


def register_composite(hook: Any) -> None:
    """Add a hook ``hook(request, method) -> engine | None``: an engine object serving models made
    of a network and closed-form parts (e.g. u = g + ℓ·N) by asking the engines for the network's
    derivatives; None leaves the request to the registered engines."""
    _COMPOSITES.append(hook)


def _composite(request: Request, method: str) -> Any:
    for hook in _COMPOSITES:
        engine = hook(request, method)
        if engine is not None:
            return engine
    return None


@dataclass(frozen=True)
class Choice:
    """What ``method="auto"`` considered: per engine, its cost or why it was ruled out."""

    quantity: str
    chosen: str
    costs: dict[str, float]
    ruled_out: dict[str, str]
    memory: tuple[int, int] = (0, 0)  # the chosen engine's (result, largest intermediate) bytes, lower bounds

    def __str__(self) -> str:
        lines = [f"{self.quantity}: chosen method={self.chosen!r} (memory ≥ {format_bytes(sum(self.memory))})"]
        width = max(map(len, [*self.costs, *self.ruled_out]))
        for name, cost in sorted(self.costs.items(), key=lambda kv: kv[1]):
            lines.append(f"  {name:<{width}} estimated cost {cost:.3g} multiply-adds")
        for name, why in self.ruled_out.items():
            lines.append(f"  {name:<{width}} cannot: {why}")
        return "\n".join(lines)


def serves(engine: Engine, request: Request) -> str | None:
    """Why ``engine`` cannot serve ``request`` (None if it can)."""
    return _serves(engine, request)


def _serves(engine: Engine, request: Request) -> str | None:
    if not hasattr(engine, request.quantity):
        return f"method={engine.name!r} does not compute {request.quantity}"
    return engine.unsupported(request)


def _choice_key(request: Request) -> tuple:
    """What a choice depends on besides the model's layers: the request's sizes and the registry."""
    return (request.quantity, request.n_batch, request.d, request.m, request.order, len(request.vectors),
            request.weight is None, request.want, request.x.dtype, request.x.device.type, tuple(ENGINES),
            tuple(engine.cost_settings() for engine in _COST_SETTINGS.values()))


def choose(request: Request) -> Choice:
    """Rank every registered engine that can serve the request by its estimated cost.

    The ranking is remembered per model (while its layers — or, for a model that is not a plain
    nn.Sequential, all its submodules — are the same objects) and request sizes: at batch 10
    asking four engines costs as much as computing a Hessian. A composite model (see
    :func:`register_composite`) reports the choice for its network's main part.
    """
    composite = _composite(request, "auto")
    if composite is not None:
        quantity, changes = composite.needs(request)[0]
        inner = choose(composite.inner(request, quantity, **changes))
        label = f"{request.quantity} by the product rule over the network's {quantity}"
        return Choice(label, inner.chosen, inner.costs, inner.ruled_out, inner.memory)
    return _choose(request.model, _choice_key(request), request, layers=request.layers)


@cached_by_structure(key_args=1, any_model=True)
def _choose(model: Any, key: tuple, request: Request) -> Choice:
    costs: dict[str, float] = {}
    ruled_out: dict[str, str] = {}
    for name, engine in ENGINES.items():
        why = _serves(engine, request)
        if why is None:
            costs[name] = float(engine.cost(request))
        else:
            ruled_out[name] = why
    if not costs:
        raise NotImplementedError(f"{request.call}: no engine can compute this: {ruled_out}")
    chosen = min(costs, key=costs.__getitem__)
    return Choice(request.quantity, chosen, costs, ruled_out, footprint.estimate(request, ENGINES[chosen]))


def resolve(request: Request, method: str) -> Engine:
    """The engine that will serve the request (``method="auto"`` asks :func:`choose`)."""
    return _resolve(request, method)[0]


def _resolve(request: Request, method: str) -> tuple[Engine, tuple[int, int] | None]:
    """The engine, and for ``method="auto"`` its memory estimate (remembered with the choice)."""
    composite = _composite(request, method)
    if composite is not None:
        if method != "auto" and method not in ENGINES:
            raise ValueError(f"{request.call}: unknown method={method!r}; expected 'auto' or one of {sorted(ENGINES)}")
        why = composite.unsupported(request)
        if why is not None:
            alternative = "" if method == "auto" else " or method='auto'"
            raise NotImplementedError(f"{request.call}: method={method!r} cannot do this: {why}. "
                                      f"Use method='autograd' (torch.func){alternative}.")
        return composite, None
    if method == "auto":
        if request.options:
            raise TypeError(
                f"{request.call}: options {sorted(request.options)} need an explicit method "
                f"(one of {sorted(ENGINES)})"
            )
        choice = choose(request)
        return ENGINES[choice.chosen], choice.memory
    if method not in ENGINES:
        raise ValueError(
            f"{request.call}: unknown method={method!r}; expected 'auto' or one of {sorted(ENGINES)}"
        )
    engine = ENGINES[method]
    unknown = set(request.options) - set(engine.options)
    if unknown:
        raise TypeError(
            f"{request.call}: method={method!r} takes no option(s) {sorted(unknown)}; "
            f"it accepts {sorted(engine.options) or 'none'}"
        )
    why = _serves(engine, request)
    if why is not None:
        raise NotImplementedError(
            f"{request.call}: method={method!r} cannot do this: {why}. "
            f"Use method='autograd' (torch.func), which handles any module, or method='auto'."
        )
    return engine, None


def run(request: Request, method: str) -> Any:
    """Resolve the engine, check the memory estimate (:mod:`~hodphys.engines.footprint`; option
    ``max_memory``) and compute ``request.quantity`` with the engine."""
    max_memory = request.options.pop("max_memory", None) if request.options else None
    engine, memory = _resolve(request, method)
    if hasattr(engine, "needs"):  # a composite: each of its engine calls checks its own memory
        return engine.compute(request)
    footprint.check(request, engine, max_memory, memory)
    compute = getattr(engine, "compute", None)
    if compute is not None:
        return compute(request)
    return getattr(engine, request.quantity)(request)
