"""Checkpoints: atomic files, RNG round trips, newest complete file wins, damaged files skipped."""
import logging
import random

import numpy as np
import torch

from hodphys.train.checkpoint import atomic_save, latest_checkpoint, rng_state, save_checkpoint, set_rng_state


def draws():
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def test_every_rng_state_round_trips_through_a_checkpoint_file(tmp_path):
    save_checkpoint(tmp_path, 1, {"rng": rng_state()})
    expected = draws()
    draws()
    _, state = latest_checkpoint(tmp_path)
    set_rng_state(state["rng"])
    assert draws() == expected


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    for step in (5, 10, 15, 20):
        save_checkpoint(tmp_path, step, {"step": step}, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000015.pt", "step-00000020.pt"]
    assert latest_checkpoint(tmp_path)[1] == {"step": 20}


def test_temporaries_and_damaged_files_are_never_loaded(tmp_path, caplog):
    save_checkpoint(tmp_path, 10, {"step": 10, "w": torch.ones(3)})
    (tmp_path / ".step-00000030.pt.abcd.tmp").write_bytes(b"a kill during the save left this")
    (tmp_path / "step-00000020.pt").write_bytes(b"\x00 damaged after the fact")
    log = logging.getLogger("test-checkpoint")
    with caplog.at_level(logging.WARNING, logger="test-checkpoint"):
        path, state = latest_checkpoint(tmp_path, log=log)
    assert path.name == "step-00000010.pt" and torch.equal(state["w"], torch.ones(3))
    assert "skipping unreadable checkpoint" in caplog.text and "step-00000020.pt" in caplog.text
    assert latest_checkpoint(tmp_path / "none") is None


def test_atomic_save_writes_a_loadable_file(tmp_path):
    path = atomic_save(tmp_path / "sub" / "model.pt", {"a": torch.arange(4)})
    assert torch.equal(torch.load(path)["a"], torch.arange(4))
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]
