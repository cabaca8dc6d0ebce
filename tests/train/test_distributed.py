"""torchrun data parallelism: two gloo processes train like one, and only rank 0 writes."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hodphys.app.problem_loader import run_problem
from hodphys.train.distributed import Session, current, start
from tests.helpers import TINY_POISSON

ROOT = Path(__file__).resolve().parents[2]


def test_a_single_process_session_is_a_no_op():
    session = start("cpu")
    assert session == Session() == current() and session.is_writer
    batch = {"interior": torch.arange(6.0)}
    assert session.shard(batch) is batch
    value = torch.tensor(3.0)
    assert session.average(value) is value
    assert session.broadcast_object("x") == "x"


def test_shards_take_every_world_th_row():
    batch = {"interior": torch.arange(10).view(5, 2), "boundary": torch.arange(4)}
    shard = Session(rank=1, world=2).shard(batch)
    assert shard["interior"].tolist() == [[2, 3], [6, 7]] and shard["boundary"].tolist() == [1, 3]


def _losses(run_dir: Path) -> list[float]:
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [line["loss"] for line in lines if "loss" in line]


def _torchrun(args: list[str], timeout: float = 600) -> None:
    """torchrun (standalone rendezvous on a free port) in its own process group, so a hang
    cannot leave worker processes behind."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    process = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, output[-3000:]


def test_two_cpu_processes_train_like_one(tmp_path):
    sets = [part for item in TINY_POISSON for part in ("--set", item)]
    _torchrun(["-m", "hodphys", "run", "poisson", *sets, "--runs", str(tmp_path / "two")])
    (run_dir,) = (tmp_path / "two").iterdir()  # one directory, written by rank 0
    two = json.loads((run_dir / "metrics.json").read_text())
    one_run, one = run_problem("poisson", overrides=TINY_POISSON, root=tmp_path / "one")
    assert two["world_size"] == 2 and one["world_size"] == 1 and two["steps"] == one["steps"]
    # the same points, sharded, with averaged gradients: Adam follows the one-process run closely
    assert _losses(run_dir)[:6] == pytest.approx(_losses(one_run.dir)[:6], rel=1e-3)
    assert two["rel_l2_mean"] <= 1.5 * one["rel_l2_mean"] and two["rel_l2_mean"] < 0.05
    assert (run_dir / "run.log").read_text().count("starting run poisson") == 1
