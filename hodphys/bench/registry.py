"""The registry of benchmark cases: ``@bench_case`` adds one, :func:`select_cases` picks some.

A case is a function ``build(env) -> BenchSpec``: it makes its model and inputs (fixed seed, in
``env.dtype`` on ``env.device``, tiny when ``env.quick``) and returns zero-argument contenders
that each compute the same quantity. Cases live in modules under :mod:`hodphys.bench.cases`,
which are imported on first use, so a new case is a new decorated function there — the harness
does not change.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from hodphys.metrics import relative_error

#: default relative-error tolerance of a contender's result against the reference, per dtype
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-10}


class CaseSkipped(Exception):
    """Raised by a case's build when it cannot run here (an optional contender package is absent);
    the message says what to install. The case is reported as skipped, not as a failure."""


@dataclass(frozen=True)
class BenchEnv:
    """Where and how a case runs: device, dtype, and ``quick`` (tiny sizes for smoke tests)."""

    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    quick: bool = False

    def size(self, full: int, quick: int) -> int:
        """The full size, or the tiny one in quick mode."""
        return quick if self.quick else full


@dataclass(frozen=True)
class BenchSpec:
    """What a case measures.

    Attributes:
        description: one line, with the sizes (shown by ``--list`` and in the JSON).
        contenders: name → zero-argument callable returning the quantity (same shape for all).
        reference: the contender every other is checked against and compared with (speed-up).
        check: (result, reference) → error; a contender is wrong when error > tolerance.
        tolerance: None takes :data:`TOLERANCE` of the dtype.
        setup_seconds: contender → one-time cost paid before timing and not in its times (compiling:
            JAX's jit, a compiled hp.plan), reported beside them.
    """

    description: str
    contenders: dict[str, Callable[[], Tensor]]
    reference: str = "torch.func"
    check: Callable[[Tensor, Tensor], float] = relative_error
    tolerance: float | None = None
    setup_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchCase:
    """A registered case: its name, its group and the function that builds its spec."""

    name: str
    group: str
    build: Callable[[BenchEnv], BenchSpec] = field(repr=False)


CASES: dict[str, BenchCase] = {}


def bench_case(name: str, group: str = "misc") -> Callable:
    """Register ``build(env) -> BenchSpec`` as the case ``name`` in ``group``."""
    def register(build: Callable[[BenchEnv], BenchSpec]) -> Callable[[BenchEnv], BenchSpec]:
        if name in CASES and CASES[name].build.__qualname__ != build.__qualname__:
            raise ValueError(f"bench_case({name!r}): a different case of that name is already registered")
        CASES[name] = BenchCase(name, group, build)
        return build

    return register


def load_cases() -> dict[str, BenchCase]:
    """Import every module of :mod:`hodphys.bench.cases` (registering its cases); the registry."""
    package = importlib.import_module("hodphys.bench.cases")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return CASES


def groups() -> list[str]:
    """The groups of the registered cases, sorted."""
    return sorted({case.group for case in load_cases().values()})


def select_cases(group: str | None = None, names: Sequence[str] = ()) -> list[BenchCase]:
    """The cases named, or else those of ``group`` ("all" for every case), in registration order."""
    cases = load_cases()
    if names:
        unknown = [name for name in names if name not in cases]
        if unknown:
            raise ValueError(f"hodphys bench: unknown case(s) {unknown}; known cases: {sorted(cases)}")
        return [cases[name] for name in names]
    if group in (None, "all"):
        return list(cases.values())
    chosen = [case for case in cases.values() if case.group == group]
    if not chosen:
        raise ValueError(f"hodphys bench: unknown group {group!r}; known groups: {groups() + ['all']}")
    return chosen
