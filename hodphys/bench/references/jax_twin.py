"""JAX twins of a torch MLP, for ``hodphys bench --group jax`` (the optional ``jax`` extra).

A twin is the same network — ``nn.Sequential`` of ``nn.Linear`` and ELU/tanh, weights copied
from the torch model — written as a pure JAX function f: (d,) → (m,), and each quantity is
computed as a JAX user writes it, compiled once: ``jit(vmap(jacfwd(f)))`` (or ``jacrev`` when
m < d), ``jit(vmap(hessian(f)))`` (forward over reverse) and folx's forward Laplacian
``jit(vmap(forward_laplacian(f)))``. Results come back as torch tensors (``from_dlpack``, no
copy) in hodphys's layout: J (N, m, d), H (N, m, d, d), Δf (N, m).

JAX runs where the torch input lives: the weights and x are placed on the matching JAX device
(``cpu``, or the same CUDA GPU), and each call waits for its result (``block_until_ready``).
Matmuls run in full float32 (``precision="highest"``: no TF32 on GPUs, as torch's default).
On CPU, XLA runs on one thread, like torch in the bench: :func:`import_jax` sets
``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` in ``XLA_FLAGS`` before
JAX starts its CPU backend (a JAX already started keeps its threads: the flags are then
reported as not applied by :func:`single_threaded`); on a GPU it allocates as it goes
(``XLA_PYTHON_CLIENT_PREALLOCATE=false``) instead of taking most of the memory torch shares.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import time
from collections.abc import Callable
from types import ModuleType

import torch
from torch import Tensor, nn

Thunk = Callable[[], Tensor]
ONE_THREAD = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")
MISSING = "JAX contenders need jax and jaxlib: pip install -e '.[jax]'"
MISSING_FOLX = "the folx contender needs folx (not installed here): pip install folx"


def available() -> bool:
    """Whether jax and jaxlib are installed (nothing is imported)."""
    return all(importlib.util.find_spec(name) is not None for name in ("jax", "jaxlib"))


def folx_available() -> bool:
    """Whether folx is installed besides jax (nothing is imported)."""
    return available() and importlib.util.find_spec("folx") is not None


def import_jax(dtype: torch.dtype) -> ModuleType:
    """``jax``, started on one thread and with float64 enabled when ``dtype`` is float64."""
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = " ".join([flags, *(f for f in ONE_THREAD if f not in flags)]).strip()
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    jax = importlib.import_module("jax")
    if dtype == torch.float64:
        jax.config.update("jax_enable_x64", True)
    return jax


def device_of(x: Tensor):
    """The JAX device matching x's: the CPU, or the CUDA GPU of the same index.
    RuntimeError (naming what to install) when this JAX has no GPU backend."""
    jax = import_jax(x.dtype)
    if x.device.type != "cuda":
        return jax.devices("cpu")[0]
    try:
        gpus = jax.devices("gpu")
    except RuntimeError as err:
        raise RuntimeError(f"x is on {x.device} but JAX has no GPU backend (pip install 'jax[cuda12]'): {err}") from err
    return gpus[torch.cuda.current_device() if x.device.index is None else x.device.index]


def single_threaded() -> bool:
    """Whether the XLA flags of :data:`ONE_THREAD` are in effect for this process."""
    return all(flag in os.environ.get("XLA_FLAGS", "") for flag in ONE_THREAD)


_ACTIVATIONS = {nn.ELU: lambda jax, m: (lambda z: jax.nn.elu(z, float(m.alpha))),
                nn.Tanh: lambda jax, m: jax.numpy.tanh}


def twin(model: nn.Sequential, dtype: torch.dtype, device=None) -> Callable:
    """The network as a JAX function of one sample, (d,) → (m,), with the model's current weights
    placed on ``device`` (a JAX device; default: JAX's) and closed over: ``jit`` bakes them in as
    constants, which XLA lays out at compile time (measured faster on CPU than weights passed as
    arguments: 365 against 647 µs for the 40 → 400 Jacobian at batch 1)."""
    jax = import_jax(dtype)
    layers = []
    for module in model:
        if isinstance(module, nn.Linear):
            weight, bias = (None if t is None else jax.device_put(t.detach().cpu().numpy(), device)
                            for t in (module.weight, module.bias))
            layers.append(lambda z, w=weight, b=bias: _affine(jax, z, w, b))
        elif type(module) in _ACTIVATIONS:
            layers.append(_ACTIVATIONS[type(module)](jax, module))
        else:
            raise ValueError(f"jax twin: expected nn.Linear, nn.ELU or nn.Tanh layers, got {module!r}")

    def f(z):
        for layer in layers:
            z = layer(z)
        return z

    return f


def _affine(jax, z, weight, bias):
    """z Wᵀ + b in full float32 (no TF32 on GPUs)."""
    out = jax.numpy.matmul(z, weight.T, precision="highest")
    return out if bias is None else out + bias


def _compiled(batched: Callable, x: Tensor) -> Thunk:
    """A thunk running ``jit(vmap(batched))`` on x (placed on its JAX device once) and waiting for
    the result; returned as a torch tensor on that device. Compiled here, by a first call: the
    thunk's ``compile_seconds`` is that call's wall time."""
    jax = import_jax(x.dtype)
    fn, xj = jax.jit(jax.vmap(batched)), jax.device_put(x.detach().cpu().numpy(), device_of(x))
    started = time.perf_counter()
    fn(xj).block_until_ready()

    def thunk() -> Tensor:
        return torch.from_dlpack(fn(xj).block_until_ready())

    thunk.compile_seconds = time.perf_counter() - started
    return thunk


def jacobian(model: nn.Sequential, x: Tensor) -> Thunk:
    """``jit(vmap(jacfwd(f)))`` when d ≤ m, else ``jacrev``: (N, m, d)."""
    jax = import_jax(x.dtype)
    d, m = x.shape[-1], model(x[:1]).shape[-1]
    return _compiled((jax.jacfwd if d <= m else jax.jacrev)(twin(model, x.dtype, device_of(x))), x)


def hessian(model: nn.Sequential, x: Tensor) -> Thunk:
    """``jit(vmap(hessian(f)))`` (jacfwd of jacrev): (N, m, d, d)."""
    jax = import_jax(x.dtype)
    return _compiled(jax.hessian(twin(model, x.dtype, device_of(x))), x)


def folx_laplacian(model: nn.Sequential, x: Tensor) -> Thunk:
    """folx's forward Laplacian, ``jit(vmap(forward_laplacian(f)))``: (N, m)."""
    import_jax(x.dtype)
    folx = importlib.import_module("folx")
    laplacian = folx.forward_laplacian(twin(model, x.dtype, device_of(x)))
    return _compiled(lambda z: laplacian(z).laplacian, x)
