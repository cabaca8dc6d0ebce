"""Shape arithmetic on the hot path."""
from __future__ import annotations

from collections.abc import Sequence


def broadcast_shape(*shapes: Sequence[int]) -> tuple[int, ...]:
    """torch.broadcast_shapes without its symbolic-shape guards (~150 µs a call in torch 2.13,
    the largest single cost of batch-1 requests)."""
    ndim = max(len(shape) for shape in shapes)
    out = [1] * ndim
    for shape in shapes:
        for axis, size in enumerate(shape, start=ndim - len(shape)):
            if size != 1:
                if out[axis] not in (1, size):
                    raise ValueError(f"shapes {[tuple(s) for s in shapes]} do not broadcast")
                out[axis] = size
    return tuple(out)
