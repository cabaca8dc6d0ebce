"""Memory estimates of a derivative request, checked before an engine runs (refusal up front).

Glossary: N flattened batch, d inputs, m outputs, K rows per sample the engine pushes through
the network (value, tangents, adjoints), W the widest layer. The estimate is a lower bound:

    bytes ≥ itemsize · N · (R + K · W)

with R the result's entries per sample (Hessian: m d², Jacobian: m d, Laplacian: m, …) and K
from the engine's ``peak_rows(request)`` when it defines one, else the least any engine needs
(a full Hessian carries d tangent rows, a Jacobian min(d, m); contractions one). A request above
the limit of :mod:`hodphys.memory_limit` is refused with what to do instead.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from hodphys.memory_limit import format_bytes, memory_limit, refusal
from hodphys.nn.compose import cached_by_structure, leaf_layers
from hodphys.request import Request


def _derivatives_entries(r: Request) -> int:
    d, m, want = r.d, r.m, r.want
    return m * (1 + d * ("jacobian" in want) + d * d * ("hessian" in want) + ("laplacian" in want))


RESULT_ENTRIES = {  # entries per sample of each quantity's result
    "jacobian": lambda r: r.m * r.d, "hessian": lambda r: r.m * r.d * r.d, "laplacian": lambda r: r.m,
    "hvp": lambda r: r.m * r.d, "directional": lambda r: r.m, "directional_grad": lambda r: r.d,
    "dim_derivative": lambda r: r.d, "divergence": lambda r: 1, "derivatives": _derivatives_entries,
}
ALWAYS_ALLOWED = 2**24  # bytes (16 MiB): never refused, not even looked up
LEAST_ROWS = {"jacobian": lambda r: min(r.d, r.m), "hessian": lambda r: r.d,
              "derivatives": lambda r: r.d if "hessian" in r.want else 1}
ADVICE = {
    "hessian": "split the batch into chunks of at most {chunk} samples, or ask for a contraction "
               "instead of the full Hessian (hp.hvp, hp.laplacian, hp.directional)",
    "derivatives": "split the batch into chunks of at most {chunk} samples, or leave out hessian=True "
                   "(the Laplacian alone is m numbers per sample)",
    "jacobian": "split the batch into chunks of at most {chunk} samples, or ask for a contraction "
                "(hp.directional along a direction, hp.divergence)",
}


@cached_by_structure
def widest_layer(model: nn.Module, d: int) -> int:
    """W: the largest feature count any layer of the model produces (d for a model of unknown layers)."""
    widths = [d]
    for _, layer in leaf_layers(model):
        for name in ("out_features", "in_features", "hidden_features", "width"):
            value = getattr(layer, name, None)
            if isinstance(value, int):
                widths.append(value)
    return max(widths)


def estimate(request: Request, engine: Any) -> tuple[int, int]:
    """(bytes of the result, bytes of the engine's largest intermediate) — lower bounds."""
    n, item = request.n_batch, request.x.element_size()
    peak_rows = getattr(engine, "peak_rows", None)
    rows = peak_rows(request) if peak_rows is not None else LEAST_ROWS.get(request.quantity, lambda r: 1)(request)
    width = widest_layer(request.model, request.d, layers=request.layers)
    return item * n * RESULT_ENTRIES[request.quantity](request), item * n * (1 + rows) * max(width, request.m)


def check(request: Request, engine: Any, max_memory: Any = None, memory: tuple[int, int] | None = None) -> None:
    """MemoryLimitError before ``engine`` runs when the request's estimate exceeds the limit.

    ``memory``: the estimate when the caller has it (``method="auto"`` remembers it with its
    choice, so the check is one comparison). Requests estimated under :data:`ALWAYS_ALLOWED` bytes
    pass without looking the limit up (unless ``max_memory`` is given).
    """
    result, intermediate = memory if memory is not None else estimate(request, engine)
    total = result + intermediate
    if total < ALWAYS_ALLOWED and max_memory is None:
        return
    limit, source = memory_limit(request.x.device, max_memory)
    if total <= limit:
        return
    chunk = max(limit * max(request.n_batch, 1) // total, 1)
    advice = ADVICE.get(request.quantity, "split the batch into chunks of at most {chunk} samples")
    raise refusal(total, limit, source, request.call, advice.format(chunk=chunk),
                  detail=f"the result {format_bytes(result)} for batch {request.n_batch}, d={request.d}, "
                         f"m={request.m}, {request.x.dtype}, and the largest intermediate of "
                         f"method={engine.name!r}, ≥ {format_bytes(intermediate)}")
