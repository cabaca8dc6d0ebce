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
from torch import nn

from hodphys.nn import Sin

DTYPES = {"float32": torch.float32, "float64": torch.float64}
OPTIMIZERS = ("lbfgs", "newton-krylov", "none")
ACTIVATIONS = {"tanh": nn.Tanh, "sin": Sin, "softplus": nn.Softplus, "silu": nn.SiLU,
               "sigmoid": nn.Sigmoid, "elu": nn.ELU}


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
    n_interior: int = 2048  # collocation points inside the domain (split across ranks)
    n_boundary: int = 512  # points on the boundary
    boundary_weight: float = 1.0  # loss = mean r_pde² + boundary_weight · mean r_bc²
    data_weight: float = 1.0  # … + data_weight · mean (u − y)² for problems with observations
    resample_every: int = 1  # Adam draws new points every this many steps (0: never)
    adam_steps: int = 1000
    lr: float = 1e-3
    lr_final: float = 1e-4  # exponential decay from lr to lr_final over the Adam steps
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
    """Check the shared knobs' values; ValueError names the key and what it accepts."""
    choices = {"dtype": tuple(DTYPES), "optimizer": OPTIMIZERS, "activation": tuple(ACTIVATIONS)}
    for key, allowed in choices.items():
        if getattr(config, key) not in allowed:
            raise ValueError(f"config key {key!r}: expected one of {list(allowed)}, "
                             f"got {getattr(config, key)!r}")
    positive = ("n_interior", "n_boundary", "lbfgs_history", "lbfgs_chunk", "nk_batches",
                "nk_cg_iters", "checkpoint_every", "keep_checkpoints", "log_every", "eval_every",
                "grid_size", "eval_points")
    non_negative = ("threads", "resample_every", "adam_steps", "optimizer_steps", "finetune_points",
                    "finetune_resample_every")
    for key in positive + non_negative:
        value = getattr(config, key)
        if value < (1 if key in positive else 0):
            raise ValueError(f"config key {key!r}: expected an integer ≥ {1 if key in positive else 0}, "
                             f"got {value}")
    if not config.widths or min(config.widths) < 1:
        raise ValueError(f"config key 'widths': expected a non-empty list of positive widths, got {config.widths}")
    if not (0 < config.lr < math.inf and 0 < config.lr_final < math.inf):
        raise ValueError(f"config keys 'lr', 'lr_final': expected positive finite rates, "
                         f"got {config.lr}, {config.lr_final}")
    if not 0 <= config.max_cpu_seconds < math.inf:
        raise ValueError(f"config key 'max_cpu_seconds': expected a finite time ≥ 0, got {config.max_cpu_seconds}")
    for key in ("boundary_weight", "data_weight"):
        if not 0 <= getattr(config, key) < math.inf:
            raise ValueError(f"config key {key!r}: expected a finite weight ≥ 0, got {getattr(config, key)}")
    if not 0 < config.nk_target < 1:
        raise ValueError(f"config key 'nk_target': expected 0 < nk_target < 1, got {config.nk_target}")
    if not 0 < config.nk_cg_tol < 1:
        raise ValueError(f"config key 'nk_cg_tol': expected 0 < nk_cg_tol < 1, got {config.nk_cg_tol}")
    if config.optimizer == "newton-krylov" and config.nk_batches > (config.finetune_points or config.n_interior):
        raise ValueError(f"config key 'nk_batches': {config.nk_batches} minibatches need at least as many "
                         f"interior points, got {config.finetune_points or config.n_interior}")


def dtype_of(config: TrainConfig) -> torch.dtype:
    return DTYPES[config.dtype]


