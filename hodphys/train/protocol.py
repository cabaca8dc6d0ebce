"""What the Trainer asks of a problem (it duck-types; any object with these members trains).

A problem class (PINN, reduced-order decoder, flow, SDE fit, …) implements them and calls
:func:`hodphys.train.solve`; the Trainer never imports a problem class.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from hodphys.io.runs import Run
from hodphys.train.config import TrainConfig

Batch = dict[str, Tensor]  # named point sets and data, rows sharded by rank


class TrainableProblem(Protocol):
    """The members :class:`~hodphys.train.trainer.Trainer` and :func:`~hodphys.train.solve` use."""

    config: TrainConfig  # a dataclass extending TrainConfig
    device: torch.device

    def build_model(self) -> nn.Module: ...

    def sample(self, generator: torch.Generator, n: int) -> Batch: ...

    def loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]: ...

    def metrics(self, model: nn.Module) -> dict[str, Any]: ...

    def write_outputs(self, model: nn.Module, run: Run, stages: Any) -> list[Path]: ...
