"""Python numbers as cached 0-d tensors, for the per-layer arithmetic of the engines.

An op between a tensor and a Python number wraps the number into a new tensor on every call
(``aten::to`` and a copy, torch 2.13): on the small tensors of a batch-10 Hessian that doubles
the op's cost (≈2.7 µs against ≈1.3 µs for a tensor-tensor op on one CPU core). The engines
multiply by the same few constants once per layer per call, so they write ``t * scalar(c, t)``:
a 0-d tensor of t's dtype and device, made once per (value, dtype, device).

The plain number is returned wherever a tensor made now could be wrapped or traced — while
torch.compile traces, inside torch.func transforms (vmap, jvp, grad) and under a
TorchDispatchMode (fake tensors, memory probes) — so a cached constant never leaks out of one.
Constants are created outside inference mode, so one made during ``torch.inference_mode()``
can still be saved for backward later.
"""
from __future__ import annotations

import torch
from torch import Tensor

# private torch hooks (torch 2.x); where one is missing, assume the unsafe case: plain numbers
_functorch_active = getattr(torch._C, "_are_functorch_transforms_active", lambda: True)
_dispatch_modes = getattr(torch._C, "_len_torch_dispatch_stack", lambda: 1)


def transforms_active() -> bool:
    """Whether torch.func transforms (vmap, jvp, grad) are running: tensors made now are wrapped."""
    return _functorch_active()


_function_modes = getattr(torch._C, "_is_torch_function_mode_enabled", lambda: True)


def graph_free(x: Tensor) -> bool:
    """Whether x may go through a torch op without an autograd formula or batching rule (a oneDNN
    kernel): a plain CPU tensor that needs no autograd graph, seen by no transform or dispatch
    mode and not traced by torch.compile (torch-function modes, e.g. a replay's recording, see
    the op like any other)."""
    return (type(x) is Tensor and x.device.type == "cpu" and not x.requires_grad and not _functorch_active()
            and not _dispatch_modes() and not torch.compiler.is_compiling())


def plain_values(x: Tensor) -> bool:
    """Whether x's values may be computed outside torch (NumPy) and wrapped back: :func:`graph_free`
    and seen by no torch-function mode either (a recording could not repeat a NumPy call)."""
    return graph_free(x) and not _function_modes()


_CACHE: dict[tuple[float, torch.dtype, torch.device], Tensor] = {}
_CACHE_LIMIT = 4096  # distinct constants; a program varying a step size per call stays bounded


def scalar(value: float, like: Tensor) -> Tensor | float:
    """``value`` as a 0-d tensor of like's dtype and device, or the plain number (module doc)."""
    if torch.compiler.is_compiling() or _functorch_active() or _dispatch_modes():
        return value
    key = (value, like.dtype, like.device)
    constant = _CACHE.get(key)
    if constant is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        with torch.inference_mode(False):
            constant = _CACHE[key] = torch.tensor(value, dtype=like.dtype, device=like.device)
    return constant
