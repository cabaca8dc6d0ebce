"""Data-parallel training with torch.distributed, launched by torchrun.

    torchrun --nproc_per_node=2 -m hodphys run poisson

Every rank draws the same collocation points (one seeded sampler), keeps the rows
``rank, rank + world, …`` of them, and averages its gradients (and loss values, and
Hessian-vector products) with the others by all-reduce, so all ranks take identical optimizer
steps — L-BFGS line searches included. Rank 0 is the one writer of the run directory.
Backends: NCCL for CUDA devices (one GPU per rank, ``cuda:LOCAL_RANK``), gloo on CPU.

Without torchrun's environment (WORLD_SIZE unset or 1) this is a single process: every
collective is a no-op.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from hodphys.io.runs import Run, check_device


@dataclass(frozen=True)
class Session:
    """This process's place among the ranks: rank r of world w, on ``device``."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_writer(self) -> bool:
        """Only rank 0 writes files (config, log, metrics, checkpoints, plots)."""
        return self.rank == 0

    def shard(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """This rank's rows of every tensor of a batch (rows r, r + w, r + 2w, …)."""
        if self.world == 1:
            return batch
        return {name: value[self.rank::self.world] for name, value in batch.items()}

    def average(self, value: Tensor) -> Tensor:
        """The mean of ``value`` over the ranks (a new tensor; every rank gets it)."""
        if self.world == 1:
            return value
        total = value.detach().clone()
        dist.all_reduce(total)
        return total / self.world

    def average_gradients(self, params: list[Tensor]) -> None:
        """Replace every ``p.grad`` by its mean over the ranks (one all-reduce of a flat buffer)."""
        if self.world == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = self.average(torch.cat([g.reshape(-1) for g in grads]))
        for p, part in zip(params, flat.split([g.numel() for g in grads])):
            p.grad = part.view_as(p).clone()

    def broadcast_parameters(self, params: list[Tensor]) -> None:
        """Make every rank start from rank 0's parameters."""
        if self.world > 1:
            for p in params:
                dist.broadcast(p.data, src=0)

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def start(device: str = "cpu") -> Session:
    """Join the process group torchrun describes (or stay single) and pick this rank's device.

    With CUDA each rank takes ``cuda:LOCAL_RANK``; asking for CUDA without it is a ValueError.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    parsed = check_device(device)
    if world == 1:
        return Session(device=parsed)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if parsed.type == "cuda":
        parsed = torch.device("cuda", local)
        torch.cuda.set_device(parsed)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if parsed.type == "cuda" else "gloo", rank=rank, world_size=world)
    return Session(rank=rank, world=world, device=parsed)


def current(device: torch.device | str = "cpu") -> Session:
    """The session of a process group already joined by :func:`start` (single otherwise)."""
    if not dist.is_initialized():
        return Session(device=torch.device(device))
    return Session(rank=dist.get_rank(), world=dist.get_world_size(), device=torch.device(device))


def world_size() -> int:
    """The number of processes torchrun started (1 without torchrun)."""
    return dist.get_world_size() if dist.is_initialized() else int(os.environ.get("WORLD_SIZE", "1"))


def open_run(name: str, config: Any, root: str | Path = "runs", device: str = "cpu",
             resume: str | Path | None = None, origin: dict[str, Any] | None = None) -> Run:
    """:meth:`Run.create` on rank 0; the other ranks follow the directory rank 0 made."""
    session = start(device)
    run = Run.create(name, config, root=root, device=str(session.device), resume=resume, origin=origin) \
        if session.is_writer else None
    run_dir = session.broadcast_object(str(run.dir) if run is not None else None)
    return run or Run.follow(name, config, run_dir, session.device, resumed=resume is not None)


def finish(clean: bool = True) -> None:
    """Leave the process group; after a clean run wait for every rank first (a failed rank does
    not wait: the others fail at the same step, since they see the same averaged numbers)."""
    if dist.is_initialized():
        if clean:
            dist.barrier()
        dist.destroy_process_group()
