"""The training loop: Adam, then L-BFGS or Newton–Krylov; checkpoints, resume, NaN guard, progress.

Steps are counted once over the stages (see :mod:`hodphys.train.config`). After a step the
trainer appends a line to ``metrics.jsonl`` every ``log_every`` steps, evaluates the error
metric every ``eval_every`` steps and writes a checkpoint every ``checkpoint_every`` steps and at
the end of each stage. A run resumed from a checkpoint continues exactly as the uninterrupted run
would have: the checkpoint holds the model, the optimizer (L-BFGS history included), the
scheduler, the step, the sampler and its current points, and every RNG state.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hodphys.errors import InputError, RunFailure
from hodphys.io.runs import Run, atomic_write
from hodphys.train import compiled, distributed, optimizers
from hodphys.train.checkpoint import PATTERN, latest_checkpoint, rng_state, save_checkpoint, set_rng_state
from hodphys.train.protocol import Batch, TrainableProblem


class TrainingDiverged(FloatingPointError, RunFailure):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


@dataclass(frozen=True)
class Stage:
    """An optimizer stage over global steps start … end−1."""

    name: str
    start: int
    end: int


def plan(config: Any) -> list[Stage]:
    """Adam for ``adam_steps`` steps, then ``optimizer`` for ``optimizer_steps``."""
    stages = [Stage("adam", 0, config.adam_steps)] if config.adam_steps else []
    if config.optimizer != "none" and config.optimizer_steps:
        stages.append(Stage(config.optimizer, config.adam_steps, config.adam_steps + config.optimizer_steps))
    return stages


def check_not_shortened(config: Any, checkpoint_dir: Path, resume: Any) -> None:
    """InputError when a resume would end the run before the step its checkpoints reached (a run
    cannot be shortened: its stages and steps would disagree)."""
    reached = max((int(PATTERN.match(p.name).group(1)) for p in checkpoint_dir.glob("step-*.pt")
                   if PATTERN.match(p.name)), default=0)
    stages = plan(config)
    end = stages[-1].end if stages else 0
    if reached > end:
        raise InputError(f"--resume {resume}: the run has reached step {reached}, but adam_steps="
                         f"{config.adam_steps} + optimizer_steps={config.optimizer_steps} ends it at step {end}; "
                         f"a run cannot be shortened: use optimizer_steps ≥ {reached - config.adam_steps}, "
                         f"or start a new run")


def _step_of(line: str) -> float:
    """The step of a metrics line; a line torn by a kill counts as past every checkpoint."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf


def _due(before: int, after: int, every: int) -> bool:
    """Did the step counter pass a multiple of ``every``?"""
    return after // every > before // every


class Trainer:
    """Trains ``model`` on ``problem``; :meth:`fit` runs (or resumes) every stage."""

    def __init__(self, problem: TrainableProblem, model: nn.Module, run: Run):
        self.problem, self.model, self.run, self.config = problem, model, run, problem.config
        self.session = distributed.current(run.device)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.loss = compiled.loss_function(problem, model, self.config, run.log)
        self.stages = plan(self.config)
        self.sampler = torch.Generator().manual_seed(self.config.seed + 1)  # points: own stream
        self.step, self.stage_name = 0, None
        self.optimizer: Any = None
        self.scheduler: Any = None
        self.batch: Batch = {}
        self.shard: Batch = {}
        self.seconds = {"wall": 0.0, "cpu": 0.0}
        self.last: dict[str, float] = {}
        self.checkpoint_file = None

    # --- stages -------------------------------------------------------------------------------
    def _begin(self, stage: Stage, batch: Batch | None = None) -> None:
        """The stage's optimizer and its points (drawn now unless restored from a checkpoint)."""
        config = self.config
        fine = config.finetune_points or config.n_interior
        if batch is None:
            batch = self.problem.sample(self.sampler, config.n_interior if stage.name == "adam" else fine)
        self.stage_name = stage.name  # _use checks the points against the stage's minibatches
        self._use(batch)
        self.scheduler = None
        if stage.name == "adam":
            self.optimizer, self.scheduler = optimizers.adam(self.params, config)
        elif stage.name == "lbfgs":
            self.optimizer = optimizers.lbfgs(self.params, config)
        else:
            self.optimizer = optimizers.newton_krylov(self.model, config, reduce=self.session.average)
        self.stage_name = stage.name

    def _use(self, batch: Batch) -> None:
        self.batch = {k: v.to(device=self.problem.device) for k, v in batch.items()}
        self.shard = self.session.shard(self.batch)
        # every mean in the loss needs rows: per rank, and per Newton–Krylov minibatch
        parts = self.config.nk_batches if self.stage_name == "newton-krylov" else 1
        short = {k: v.shape[0] for k, v in self.shard.items() if v.shape[0] < parts}
        if short:
            where = f" on each of {self.session.world} processes" if self.session.world > 1 else ""
            raise InputError(f"too few points{where}: {short} rows for {parts} "
                             f"{'Newton–Krylov minibatches' if parts > 1 else 'loss term'}; raise n_boundary / "
                             f"n_interior / the data, or lower nk_batches or the number of processes")

    def _closure(self) -> Tensor:
        """Loss and gradient on this rank's points, averaged over ranks; NaN/Inf stops the run."""
        self.optimizer.zero_grad()
        loss, terms = self.loss(self.model, self.shard)
        loss.backward()
        self.session.average_gradients(self.params)
        value = self.session.average(loss.detach())
        self._record(value, {k: self.session.average(v.detach()) for k, v in terms.items()})
        return value

    def _record(self, value: Tensor, terms: dict[str, Tensor]) -> None:
        self.last = {"loss": float(value), **{k: float(v) for k, v in terms.items()}}
        if not math.isfinite(self.last["loss"]):
            where = self.checkpoint_file or "none (no checkpoint was written yet)"
            message = (f"training diverged at step {self.step} ({self.stage_name}): "
                       + ", ".join(f"{k} = {v}" for k, v in self.last.items())
                       + f". Stopped; the last good checkpoint is {where}")
            self.run.log.error(message)
            raise TrainingDiverged(message)

    def _resample_every(self, stage: Stage) -> int:
        return self.config.resample_every if stage.name == "adam" else self.config.finetune_resample_every

    def _resample_if_due(self, stage: Stage) -> None:
        """Fresh points every ``resample_every`` steps (Adam) or ``finetune_resample_every`` (second
        stage, whose optimizer then starts afresh: L-BFGS curvature pairs and the Newton–Krylov
        warm start belong to the old points)."""
        local, every = self.step - stage.start, self._resample_every(stage)
        if not (every and local and local % every == 0):
            return
        if stage.name == "adam":
            self._use(self.problem.sample(self.sampler, self.config.n_interior))
        else:
            self._begin(stage)

    def _advance(self, stage: Stage) -> None:
        """One step of the stage (L-BFGS: up to ``lbfgs_chunk`` iterations)."""
        self._resample_if_due(stage)
        if stage.name == "adam":
            self._closure()
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
        elif stage.name == "lbfgs":
            every, local = self._resample_every(stage), self.step - stage.start
            group = self.optimizer.param_groups[0]
            group["max_iter"] = min(self.config.lbfgs_chunk, stage.end - self.step,
                                    every - local % every if every else stage.end)
            group["max_eval"] = 2 * group["max_iter"]
            before = self.optimizer.state[self.params[0]].get("n_iter", 0)
            self.optimizer.step(self._closure)
            taken = self.optimizer.state[self.params[0]].get("n_iter", 0) - before
            if taken == 0:  # the gradient is already below L-BFGS's tolerance: nothing left to do
                self.run.log.info("L-BFGS converged at step %d (gradient below tolerance); stage ends", self.step)
                taken = stage.end - self.step
            self.step += taken
        else:
            self._newton_krylov_pass()

    def _newton_krylov_pass(self) -> None:
        parts = {k: v.tensor_split(self.config.nk_batches) for k, v in self.shard.items()}
        minibatches = [{k: v[i] for k, v in parts.items()} for i in range(self.config.nk_batches)]
        loss = self.optimizer.step(lambda model, i: self.problem.loss(model, minibatches[i])[0],
                                   self.config.nk_batches)
        self.step += 1
        self._record(torch.tensor(loss), {})

    # --- checkpoints --------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"step": self.step, "stage": self.stage_name, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "sampler": self.sampler.get_state(), "batch": {k: v.cpu() for k, v in self.batch.items()},
                "rng": rng_state(), "seconds": dict(self.seconds), "last": dict(self.last)}

    def _checkpoint(self) -> None:
        if self.session.is_writer:
            self.checkpoint_file = save_checkpoint(self.run.dir / "checkpoints", self.step, self._state(),
                                                   keep=self.config.keep_checkpoints)

    def _resume(self) -> None:
        """Continue from the newest complete checkpoint of the run directory (if any)."""
        check_not_shortened(self.config, self.run.dir / "checkpoints", self.run.dir)
        found = latest_checkpoint(self.run.dir / "checkpoints", log=self.run.log)
        if found is None:
            self.run.log.warning("no checkpoint in %s: starting from step 0", self.run.dir)
            self._truncate_metrics()  # the killed run's lines would be written again
            return
        self.checkpoint_file, state = found
        self.model.load_state_dict(state["model"])
        self.step, self.seconds = state["step"], state["seconds"]
        self.last = dict(state.get("last", {}))  # the loss terms of the step the checkpoint ends
        self.sampler.set_state(state["sampler"])
        current = next((s for s in self.stages if self.step < s.end), None)
        if current is not None and current.name == state["stage"]:  # mid-stage: restore its optimizer
            self._begin(current, state["batch"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        self._truncate_metrics()
        self.run.log.info("resumed from %s at step %d", self.checkpoint_file, self.step)

    def _truncate_metrics(self) -> None:
        """Drop the metrics lines the killed run wrote after its last checkpoint."""
        path = self.run.dir / "metrics.jsonl"
        if not self.session.is_writer or not path.exists():
            return
        lines = [line for line in path.read_text().splitlines() if _step_of(line) <= self.step]
        atomic_write(path, lambda f: f.write("".join(line + "\n" for line in lines)), binary=False)

    # --- the loop -----------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Run every stage (from the last checkpoint when resuming); returns a training summary."""
        if self.run.resumed:
            self._resume()
        else:
            self.session.broadcast_parameters(self.params)
        total = self.stages[-1].end if self.stages else 0
        bar = self.run.progress(total=total, initial=self.step, desc=self.run.name)
        for stage in self.stages:
            if self.step >= stage.end or self._out_of_time():
                continue
            if self.stage_name != stage.name:
                self._begin(stage)
            while self.step < stage.end and not self._out_of_time():
                self._timed_step(stage, bar)
            if self._out_of_time():
                self.run.log.info("CPU-time budget of %g s used up at step %d", self.config.max_cpu_seconds, self.step)
                self._checkpoint()
            self.stage_name = None  # the next stage builds its own optimizer
        bar.close()
        return {"steps": self.step, "final_loss": self.last.get("loss"),  # None: no step was taken
                "train_seconds": self.seconds["wall"], "train_cpu_seconds": self.seconds["cpu"],
                "world_size": self.session.world, "stages": {s.name: [s.start, s.end] for s in self.stages},
                "compiled": isinstance(self.loss, compiled.CompiledLoss) and self.loss.compiled is not None,
                "compile_cpu_seconds": round(getattr(self.loss, "seconds", 0.0), 2)}

    def _out_of_time(self) -> bool:
        """Has training used the config's ``max_cpu_seconds`` (when set)?"""
        budget = getattr(self.config, "max_cpu_seconds", 0)
        return bool(budget) and self.seconds["cpu"] >= budget

    def _decay_over_budget(self) -> None:
        """lr = lr₀ · (lr_final/lr₀)^u with u the fraction of ``max_cpu_seconds`` used so far: the
        schedule ends on the budget, whatever a step costs (equal-budget comparisons)."""
        c = self.config
        used = min(self.seconds["cpu"] / c.max_cpu_seconds, 1.0)
        for group in self.optimizer.param_groups:
            group["lr"] = c.lr * (c.lr_final / c.lr) ** used

    def _timed_step(self, stage: Stage, bar) -> None:
        before, wall, cpu = self.step, time.perf_counter(), time.process_time()
        self._advance(stage)
        self.seconds["wall"] += time.perf_counter() - wall
        self.seconds["cpu"] += time.process_time() - cpu
        if stage.name == "adam" and getattr(self.config, "lr_decay_over", "steps") == "budget":
            self._decay_over_budget()
        bar.update(self.step - before)
        self._report(before, stage, bar)
        if _due(before, self.step, self.config.checkpoint_every) or self.step >= stage.end:
            self._checkpoint()

    def _report(self, before: int, stage: Stage, bar) -> None:
        """metrics.jsonl lines (loss every log_every steps, error every eval_every) and the bar."""
        config, end = self.config, self.step >= stage.end
        if _due(before, self.step, config.log_every) or end:
            lr = self.optimizer.param_groups[0].get("lr") if stage.name == "adam" else None
            self.run.append_metrics(step=self.step, stage=stage.name, **self.last, lr=lr,
                                    seconds=round(self.seconds["wall"], 3))
            bar.set_postfix(loss=f"{self.last['loss']:.3e}", refresh=False)
        if self.session.is_writer and (_due(before, self.step, config.eval_every) or end):
            error = self.problem.metrics(self.model)
            if error:
                self.run.append_metrics(step=self.step, stage=stage.name, **error)
                headline = error.get("rel_l2_mean", next(iter(error.values())))  # a problem's first metric
                bar.set_postfix(loss=f"{self.last['loss']:.3e}", err=f"{headline:.2e}")
