"""``compile``: the training loss through torch.compile — where it can be traced, and where it pays.

torch.compile traces ``problem.loss(model, batch)`` (the forward: partials, residual, conditions) into
fused kernels; ``loss.backward()`` stays an ordinary call outside. It cannot trace a loss built on
reverse-mode partials (∇θ of ∇ₓu is a double backward, which aot_autograd does not compile), so a
problem says whether its loss is traceable (``compile_friendly(model)``: a PINN whose partials come
from the forward jet of :mod:`hodphys.partials`).

``compile = "auto"`` compiles a traceable loss when the run is long enough to repay the compilation
(~35 s of CPU per point count with a cold cache, most of it the C++ compiler building inductor's
kernels; the Adam set and a fine-tuning set of another size are two), judged by
its work Σ_stages steps · points · parameters ≥ :data:`WORTH_COMPILING` per compilation; ``"on"``
compiles whenever traceable, ``"off"`` never. The decision depends on the config and the model only,
so a resumed run takes the same path as the run it continues. Should compilation fail, the run logs
one line and goes on eagerly.
"""
from __future__ import annotations

import logging
import time

try:
    import resource
except ImportError:  # pragma: no cover - not on POSIX
    resource = None
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

#: steps · points · parameters per compilation from which "auto" compiles. Compiled, a step of a tanh
#: MLP saves ~0.65 ns per unit (measured, one thread: burgers 2540 points × 3.3k parameters 9.5 → 4.2 ms,
#: heat 1000 × 2.2k 4.5 → 1.8 ms), so 5e10 units repay one cold compilation (~35 s CPU: ~6 s in the
#: process, ~30 s in the C++ compiler it runs). A warm inductor cache (a repeated run) costs far less.
WORTH_COMPILING = 5e10

BACKEND = "inductor"  # torch.compile's backend (tests use "aot_eager": the same tracing, no code generation)

LossFunction = Callable[[nn.Module, dict[str, Tensor]], tuple[Tensor, dict[str, Tensor]]]


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (inductor's C++ compiler runs)."""
    if resource is None:  # pragma: no cover - not on POSIX
        return time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run_work(config: Any, model: nn.Module) -> float:
    """Σ_stages steps · points · parameters of the run the config describes."""
    params = sum(p.numel() for p in model.parameters())
    fine = config.finetune_points or config.n_interior
    return params * (config.adam_steps * config.n_interior + config.optimizer_steps * fine)


def compilations(config: Any) -> int:
    """How many point counts the run compiles for: the Adam set's, and the fine-tuning set's if it differs."""
    fine = config.finetune_points or config.n_interior
    return 1 + int(bool(config.optimizer_steps) and bool(config.adam_steps) and fine != config.n_interior)


def wanted(problem: Any, model: nn.Module, config: Any) -> bool:
    """Whether the loss is compiled (module doc): ``compile`` "on" or "auto", a traceable loss, and for
    "auto" a run worth it."""
    choice = getattr(config, "compile", "off")
    if choice == "off" or not getattr(problem, "compile_friendly", lambda m: False)(model):
        return False
    return choice == "on" or run_work(config, model) >= WORTH_COMPILING * compilations(config)


class CompiledLoss:
    """``loss(model, batch)`` through torch.compile, with an eager fallback (module doc).

    The first call runs the loss once eagerly without a graph, so everything a problem prepares
    lazily (parsed specs, compiled layer rules) exists before tracing starts and is not traced.
    Point sets of the same size reuse the compiled code; ``seconds`` is the CPU time (the process's and
    its C++ compiler runs') of the calls that compiled (each the first with its point counts).
    """

    def __init__(self, loss: LossFunction, log: logging.Logger):
        self.loss, self.log = loss, log
        self.compiled: LossFunction | None = torch.compile(loss, backend=BACKEND)
        self.warm, self.seconds, self.shapes = False, 0.0, set()

    def __call__(self, model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        if self.compiled is None:
            return self.loss(model, batch)
        if not self.warm:
            with torch.no_grad():
                self.loss(model, batch)
            self.warm = True
        shapes = tuple((k, tuple(v.shape)) for k, v in batch.items())
        started = cpu_seconds()
        try:
            out = self.compiled(model, batch)
        except Exception as err:  # noqa: BLE001 - any failure to compile: the eager loss decides
            self.log.warning("torch.compile of the loss failed (%s: %s); training goes on eagerly",
                             type(err).__name__, str(err).splitlines()[0] if str(err) else "")
            self.compiled = None
            return self.loss(model, batch)
        if shapes not in self.shapes:  # this call compiled (a new point count): its CPU time is compile time
            self.shapes.add(shapes)
            self.seconds += cpu_seconds() - started
        return out


def loss_function(problem: Any, model: nn.Module, config: Any, log: logging.Logger) -> LossFunction:
    """The loss the trainer calls: compiled (:class:`CompiledLoss`) when :func:`wanted`, else problem.loss."""
    if not wanted(problem, model, config):
        return problem.loss
    log.info("compiling the loss with torch.compile (config key compile=%s)", getattr(config, "compile", "off"))
    return CompiledLoss(problem.loss, log)
