"""JAX twins of a torch MLP, for ``hodphys bench --group jax`` (the optional ``jax`` extra).

A twin is the same network — ``nn.Sequential`` of ``nn.Linear`` and ELU/tanh, weights copied
from the torch model — written as a pure JAX function f: (d,) → (m,), and each quantity is
computed as a JAX user writes it, compiled once: ``jit(vmap(jacfwd(f)))`` (or ``jacrev`` when
m < d), ``jit(vmap(hessian(f)))`` (forward over reverse) and folx's forward Laplacian
``jit(vmap(forward_laplacian(f)))``. Results come back as torch tensors (``from_dlpack``, no
copy) in hodphys's layout: J (N, m, d), H (N, m, d, d), Δf (N, m).

XLA runs on one thread, like torch in the bench: :func:`import_jax` sets
``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` in ``XLA_FLAGS`` before
JAX starts its CPU backend (a JAX already started keeps its threads: the flags are then
reported as not applied by :func:`single_threaded`).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from types import ModuleType

import torch
from torch import Tensor, nn

Thunk = Callable[[], Tensor]
ONE_THREAD = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")
MISSING = "JAX contenders need jax, jaxlib and folx: pip install -e '.[jax]'"


def available() -> bool:
    """Whether jax, jaxlib and folx are installed (nothing is imported)."""
    return all(importlib.util.find_spec(name) is not None for name in ("jax", "jaxlib", "folx"))


def import_jax(dtype: torch.dtype) -> ModuleType:
    """``jax``, started on one thread and with float64 enabled when ``dtype`` is float64."""
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = " ".join([flags, *(f for f in ONE_THREAD if f not in flags)]).strip()
    jax = importlib.import_module("jax")
    if dtype == torch.float64:
        jax.config.update("jax_enable_x64", True)
    return jax


def single_threaded() -> bool:
    """Whether the XLA flags of :data:`ONE_THREAD` are in effect for this process."""
    return all(flag in os.environ.get("XLA_FLAGS", "") for flag in ONE_THREAD)


_ACTIVATIONS = {nn.ELU: lambda jax, m: (lambda z: jax.nn.elu(z, float(m.alpha))),
                nn.Tanh: lambda jax, m: jax.numpy.tanh}


def twin(model: nn.Sequential, dtype: torch.dtype) -> Callable:
    """The network as a JAX function of one sample, (d,) → (m,), with the model's current weights."""
    jax = import_jax(dtype)
    layers = []
    for module in model:
        if isinstance(module, nn.Linear):
            weight = jax.numpy.asarray(module.weight.detach().cpu().numpy())
            bias = None if module.bias is None else jax.numpy.asarray(module.bias.detach().cpu().numpy())
            layers.append(lambda z, w=weight, b=bias: z @ w.T + (0 if b is None else b))
        elif type(module) in _ACTIVATIONS:
            layers.append(_ACTIVATIONS[type(module)](jax, module))
        else:
            raise ValueError(f"jax twin: expected nn.Linear, nn.ELU or nn.Tanh layers, got {module!r}")

    def f(z):
        for layer in layers:
            z = layer(z)
        return z

    return f


def _compiled(batched: Callable, x: Tensor) -> Thunk:
    """A thunk running the jitted, vmapped function on x (copied to JAX once) as a torch tensor."""
    jax = import_jax(x.dtype)
    fn, xj = jax.jit(jax.vmap(batched)), jax.numpy.asarray(x.detach().cpu().numpy())
    return lambda: torch.from_dlpack(fn(xj).block_until_ready())


def jacobian(model: nn.Sequential, x: Tensor) -> Thunk:
    """``jit(vmap(jacfwd(f)))`` when d ≤ m, else ``jacrev``: (N, m, d)."""
    jax = import_jax(x.dtype)
    d, m = x.shape[-1], model(x[:1]).shape[-1]
    return _compiled((jax.jacfwd if d <= m else jax.jacrev)(twin(model, x.dtype)), x)


def hessian(model: nn.Sequential, x: Tensor) -> Thunk:
    """``jit(vmap(hessian(f)))`` (jacfwd of jacrev): (N, m, d, d)."""
    jax = import_jax(x.dtype)
    return _compiled(jax.hessian(twin(model, x.dtype)), x)


def folx_laplacian(model: nn.Sequential, x: Tensor) -> Thunk:
    """folx's forward Laplacian, ``jit(vmap(forward_laplacian(f)))``: (N, m)."""
    import_jax(x.dtype)
    folx = importlib.import_module("folx")
    laplacian = folx.forward_laplacian(twin(model, x.dtype))
    return _compiled(lambda z: laplacian(z).laplacian, x)
