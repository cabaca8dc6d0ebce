"""The optimizers of the two training stages, built from a :class:`TrainConfig`.

Stage 1, Adam: the learning rate decays exponentially, lr_t = lr · (lr_final/lr)^(t/T), over
the T = ``adam_steps`` steps. Stage 2 (``optimizer``): L-BFGS with a strong-Wolfe line search
on a fixed set of points, or the HoD-Net Newton–Krylov optimizer.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from hodphys.train.config import TrainConfig
from hodphys.train.newton_krylov import NewtonKrylov


def adam(params: list[Tensor], config: TrainConfig) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LRScheduler]:
    """Adam at ``lr`` and its exponential decay to ``lr_final`` over ``adam_steps`` steps."""
    optimizer = torch.optim.Adam(params, lr=config.lr)
    gamma = (config.lr_final / config.lr) ** (1.0 / max(config.adam_steps, 1))
    return optimizer, torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma)


def lbfgs(params: list[Tensor], config: TrainConfig) -> torch.optim.LBFGS:
    """L-BFGS (strong Wolfe) run in chunks of ``lbfgs_chunk`` iterations per ``step`` call.

    The tolerances are zero: the trainer, not L-BFGS, decides when to stop, so a chunk never
    ends early on a flat stretch of float32 noise and the step count stays predictable.
    """
    chunk = config.lbfgs_chunk
    return torch.optim.LBFGS(params, lr=1.0, max_iter=chunk, max_eval=2 * chunk,
                             history_size=config.lbfgs_history, line_search_fn="strong_wolfe",
                             tolerance_grad=0.0, tolerance_change=0.0)


def newton_krylov(model: nn.Module, config: TrainConfig, reduce=None) -> NewtonKrylov:
    """HoD-Net Algorithm 1 with the configured CG budget and step-size target."""
    return NewtonKrylov(model, cg_iters=config.nk_cg_iters, cg_tol=config.nk_cg_tol,
                        target=config.nk_target, reduce=reduce)
