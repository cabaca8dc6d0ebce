"""The training knobs every PINN problem shares: a dataclass its own ``Config`` extends.

    @dataclass
    class Config(TrainConfig):      # problem knobs next to the shared ones, all overridable
        dim: int = 5                # by --config file.toml and --set key=value
        adam_steps: int = 3000      # a problem may change a default by re-declaring it

Steps are counted once across both stages: Adam steps 0 … adam_steps−1, then the iterations of
``optimizer`` ("lbfgs": L-BFGS iterations with a strong-Wolfe line search; "newton-krylov": one
pass of HoD-Net Algorithm 1 over ``nk_batches`` minibatches per step).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from hodphys.checks import check_integers
from hodphys.engines import ENGINES
from hodphys.errors import InputError
from hodphys.memory_limit import check_bytes
from hodphys.nn.activations import ACTIVATIONS
from hodphys.partials import JET, REVERSE

DTYPES = {"float32": torch.float32, "float64": torch.float64}
OPTIMIZERS = ("lbfgs", "newton-krylov", "none")
COMPILE = ("auto", "on", "off")


@dataclass
class TrainConfig:
    """Shared knobs: model, points, the two optimizer stages, checkpoints and evaluation."""

    seed: int = 0  # seeds torch, numpy, random and the collocation sampler
    dtype: str = "float32"  # "float32" or "float64"
    threads: int = 0  # torch intra-op threads (0: torch's default)
    widths: list[int] = field(default_factory=lambda: [100] * 5)  # hidden layer widths
    activation: str = "tanh"
    normalize_outputs: bool = False  # fix u = mean + spread · net(x) from the Dirichlet data
    derivative_method: str = "auto"  # the hp.* engine for the residual ("auto" picks the cheapest)
    compile: str = "auto"  # torch.compile the loss: "auto" (where traceable and worth it), "on", "off"
    n_interior: int = 2048  # collocation points inside the domain (split across ranks)
    n_boundary: int = 512  # points on the boundary
    boundary_weight: float = 1.0  # loss = mean r_pde² + boundary_weight · mean r_bc²
    data_weight: float = 1.0  # … + data_weight · mean (u − y)² for problems with observations
    resample_every: int = 1  # Adam draws new points every this many steps (0: never)
    adam_steps: int = 1000
    lr: float = 1e-3
    lr_final: float = 1e-4  # exponential decay from lr to lr_final over the Adam steps
    lr_decay_over: str = "steps"  # "steps": over adam_steps; "budget": over max_cpu_seconds of CPU time
    optimizer: str = "lbfgs"  # after Adam: "lbfgs", "newton-krylov" or "none"
    optimizer_steps: int = 1000  # L-BFGS iterations, or Newton–Krylov passes
    finetune_points: int = 0  # interior points of the second-stage set (0: n_interior)
    finetune_resample_every: int = 0  # second stage: fresh points every this many steps (0: one fixed set)
    lbfgs_history: int = 50
    lbfgs_chunk: int = 25  # L-BFGS iterations between checkpoint/progress updates
    nk_batches: int = 4  # Newton–Krylov: minibatches per pass
    nk_cg_iters: int = 20  # CG iterations per minibatch
    nk_cg_tol: float = 1e-2  # stop CG when ‖r‖ ≤ tol·‖r₀‖
    nk_target: float = 0.9  # η̃: aim for f(w+γΔw) ≤ η̃·f(w)
    max_cpu_seconds: float = 0.0  # stop training once it used this much CPU time (0: no limit); equal budgets
    checkpoint_every: int = 250  # steps between checkpoints (and at every stage end)
    keep_checkpoints: int = 2
    log_every: int = 10  # steps between lines of metrics.jsonl
    eval_every: int = 250  # steps between evaluations of the error metric
    plots: bool = True  # write plots/*.png at the end (False for sweeps: saves seconds)
    grid_size: int = 101  # evaluation/plot grid per axis (2-D slice for d > 2)
    eval_points: int = 10000  # random evaluation points when d > 2

    # what --resume may change: bookkeeping, and the length of the last stage (a finished run
    # resumed with more optimizer_steps continues exactly like a longer run); anything else shapes
    # the model, the optimizers' state or the points, which the checkpoint has fixed
    RESUME_MAY_CHANGE = frozenset({"threads", "optimizer_steps", "max_cpu_seconds", "checkpoint_every",
                                   "keep_checkpoints", "log_every", "eval_every", "plots", "grid_size",
                                   "eval_points"})


def validate(config: TrainConfig) -> None:
    """Check the shared knobs' values; InputError (a ValueError) names the key and what it accepts."""
    choices = {"dtype": tuple(DTYPES), "optimizer": OPTIMIZERS, "activation": tuple(ACTIVATIONS), "compile": COMPILE}
    for key, allowed in choices.items():
        if getattr(config, key) not in allowed:
            raise InputError(f"config key {key!r}: expected one of {list(allowed)}, "
                             f"got {getattr(config, key)!r}")
    if config.derivative_method not in ("auto", REVERSE, JET, *ENGINES):
        raise InputError(f"config key 'derivative_method': expected 'auto', {REVERSE!r}, {JET!r} or one of "
                         f"{sorted(ENGINES)}, got {config.derivative_method!r}")
    positive = ("n_interior", "n_boundary", "lbfgs_history", "lbfgs_chunk", "nk_batches",
                "nk_cg_iters", "checkpoint_every", "keep_checkpoints", "log_every", "eval_every",
                "grid_size", "eval_points")
    non_negative = ("threads", "resample_every", "adam_steps", "optimizer_steps", "finetune_points",
                    "finetune_resample_every")
    for key in positive + non_negative:
        try:
            check_integers(f"config key {key!r}", 1 if key in positive else 0, value=getattr(config, key))
        except ValueError as err:
            raise InputError(str(err)) from None
    if not config.widths or min(config.widths) < 1:
        raise InputError(f"config key 'widths': expected a non-empty list of positive widths, got {config.widths}")
    if not (0 < config.lr < math.inf and 0 < config.lr_final < math.inf):
        raise InputError(f"config keys 'lr', 'lr_final': expected positive finite rates, "
                         f"got {config.lr}, {config.lr_final}")
    if not 0 <= config.max_cpu_seconds < math.inf:
        raise InputError(f"config key 'max_cpu_seconds': expected a finite time ≥ 0, "
                         f"got {config.max_cpu_seconds}")
    if config.lr_decay_over not in ("steps", "budget"):
        raise InputError(f"config key 'lr_decay_over': expected 'steps' or 'budget', got {config.lr_decay_over!r}")
    if config.lr_decay_over == "budget" and not config.max_cpu_seconds:
        raise InputError("config key 'lr_decay_over' = 'budget' needs a CPU-time budget: set max_cpu_seconds > 0")
    for key in ("boundary_weight", "data_weight"):
        if not 0 <= getattr(config, key) < math.inf:
            raise InputError(f"config key {key!r}: expected a finite weight ≥ 0, got {getattr(config, key)}")
    if not 0 < config.nk_target < 1:
        raise InputError(f"config key 'nk_target': expected 0 < nk_target < 1, got {config.nk_target}")
    if not 0 < config.nk_cg_tol < 1:
        raise InputError(f"config key 'nk_cg_tol': expected 0 < nk_cg_tol < 1, got {config.nk_cg_tol}")
    if config.optimizer == "newton-krylov" and config.nk_batches > (config.finetune_points or config.n_interior):
        raise InputError(f"config key 'nk_batches': {config.nk_batches} minibatches need at least as many "
                         f"interior points, got {config.finetune_points or config.n_interior}")


def check_positive(config: object, *keys: str, allow_zero: bool = False) -> None:
    """InputError naming the first of ``keys`` whose value is not finite and > 0 (≥ 0 with ``allow_zero``):
    a problem's physical constants (ν, κ, Re, c, …), checked by its ``check(config)`` before anything is written."""
    for key in keys:
        value = getattr(config, key)
        if not (0 <= value if allow_zero else 0 < value) or not value < math.inf:
            raise InputError(f"config key {key!r}: expected a finite value {'≥' if allow_zero else '>'} 0, "
                             f"got {value}")


def training_bytes(config: TrainConfig, world: int = 1) -> int:
    """A lower bound of one process's memory for its points: P rows, each holding at least the
    value, a tangent and a gradient at the widest layer W: 3 · P · W · itemsize bytes, with P the
    largest point set (training points per rank, or the evaluation grid/points)."""
    training = max(config.n_interior, config.finetune_points) + config.n_boundary
    evaluation = max(config.grid_size ** 2, config.eval_points)
    rows = max(-(-training // max(world, 1)), evaluation)
    return 3 * rows * max(config.widths) * dtype_of(config).itemsize


def check_memory(config: TrainConfig, device: str | torch.device = "cpu", world: int = 1) -> None:
    """MemoryLimitError before the run starts when the points cannot fit (see :func:`training_bytes`)."""
    check_bytes(training_bytes(config, world), f"training with n_interior={config.n_interior}, "
                f"finetune_points={config.finetune_points}, n_boundary={config.n_boundary}, "
                f"grid_size={config.grid_size}, eval_points={config.eval_points}",
                "lower these counts, or share the training points among more processes (torchrun)",
                device=device, detail=f"3 rows of the widest layer ({max(config.widths)}) per point, "
                f"{config.dtype}, {world} process{'es' if world > 1 else ''}")


def dtype_of(config: TrainConfig) -> torch.dtype:
    return DTYPES[config.dtype]


