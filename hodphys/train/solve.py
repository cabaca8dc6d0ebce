"""Train a problem's network and write everything a run produces: the one call a problem's
``main(config, run)`` makes.

    def main(config, run):
        return solve(MyProblem(config), run)
"""
from __future__ import annotations

from typing import Any

import torch

from hodphys.io.runs import Run
from hodphys.train import distributed
from hodphys.train.checkpoint import atomic_save
from hodphys.train.config import check_memory
from hodphys.train.protocol import TrainableProblem
from hodphys.train.trainer import Trainer


def solve(problem: TrainableProblem, run: Run) -> dict[str, Any]:
    """Build the model, train it (resuming when the run is resumed), evaluate, write outputs.

    Returns the metrics: the training summary (steps, final loss, seconds) and the problem's
    error metrics (e.g. ``rel_l2_mean``). Only the writer rank evaluates and writes files.
    """
    config = problem.config
    check_memory(config, run.device, distributed.world_size())
    if config.threads:
        torch.set_num_threads(config.threads)
    problem.device = run.device
    model = problem.build_model()
    trainer = Trainer(problem, model, run)
    metrics: dict[str, Any] = trainer.fit()
    if not run.writer:
        return metrics
    metrics.update(problem.metrics(model))
    atomic_save(run.dir / "model.pt", model.state_dict())
    for path in problem.write_outputs(model, run, metrics["stages"]):
        run.log.info("wrote %s", path)
    return metrics
