"""Issue 16, item 10: every front-door call and every training run is checked against a memory
limit before any work, and refused (hodphys.errors.MemoryLimitError, a MemoryError) with the
estimate, the limit and what to do."""
import pytest
import torch
from torch import nn

import hodphys as hp
from hodphys.app.cli import main
from hodphys.app.problem_loader import run_problem
from tests.helpers import TINY_POISSON


def _net(d: int, m: int, width: int = 16) -> nn.Module:
    return nn.Sequential(nn.Linear(d, width), nn.Tanh(), nn.Linear(width, m))


def test_a_50_gib_hessian_is_refused_up_front_with_estimate_limit_and_advice():
    model, x = _net(2048, 8, 64), torch.randn(400, 2048)
    with pytest.raises(MemoryError, match=r"hp.hessian\(model, x\): needs an estimated 5\d\.\d GiB \(the result "
                                               r"50 GiB for batch 400, d=2048, m=8, torch.float32, .*over the memory "
                                               r"limit of 14.9 GiB \(max_memory\); split the batch into chunks of at "
                                               r"most \d+ samples, or ask for a contraction .*hp.hvp, hp.laplacian"):
        hp.hessian(model, x, max_memory="16GB")


@pytest.mark.parametrize("quantity,args", [("jacobian", ()), ("hessian", ()), ("laplacian", ()), ("hvp", ("v",)),
                                           ("directional", ("vs",)), ("directional_grad", ("vs",)),
                                           ("dim_derivative", ()), ("divergence", ()), ("derivatives", ())])
def test_every_front_door_call_is_guarded(quantity, args):
    model, x = _net(3, 3), torch.randn(4096, 3)
    v = torch.randn(3)
    call = [v if a == "v" else [v] for a in args] + ([torch.ones(3)] if quantity == "directional_grad" else [])
    with pytest.raises(MemoryError, match=rf"hp.{quantity}\(model, x.*over the memory limit of 1000 B "
                                               rf"\(max_memory\); split the batch into chunks of at most \d+ samples"):
        getattr(hp, quantity)(model, x, *call, max_memory=1000)
    result = getattr(hp, quantity)(model, x[:8], *call, max_memory="1GB")  # under the limit: computed
    assert result is not None


def test_the_environment_variable_and_the_default_set_the_limit(monkeypatch):
    from hodphys import memory_limit

    model, x = _net(8, 8, 256), torch.randn(2048, 8)  # hessian ≥ 16 MiB estimated
    monkeypatch.setenv(memory_limit.ENVIRONMENT_VARIABLE, "1MiB")
    with pytest.raises(MemoryError, match=r"memory limit of 1 MiB \(HODPHYS_MAX_MEMORY\)"):
        hp.hessian(model, x)
    assert hp.hessian(model, x, max_memory="1GiB").shape == (2048, 8, 8, 8)  # the option wins
    monkeypatch.delenv(memory_limit.ENVIRONMENT_VARIABLE)
    monkeypatch.setattr(memory_limit, "available_memory", lambda device="cpu": 10 * 2**20)
    with pytest.raises(MemoryError, match=r"memory limit of 8 MiB \(80% of the memory available on cpu\)"):
        hp.hessian(model, x)
    monkeypatch.setenv(memory_limit.ENVIRONMENT_VARIABLE, "50%")
    with pytest.raises(MemoryError, match=r"memory limit of 5 MiB \(HODPHYS_MAX_MEMORY\)"):
        hp.laplacian(model, torch.randn(100_000, 8))


def test_limits_parse_sizes_and_refuse_nonsense():
    from hodphys.memory_limit import parse_limit

    assert parse_limit("8GB", 0, "x") == 8 * 10**9 and parse_limit("512MiB", 0, "x") == 512 * 2**20
    assert parse_limit("25%", 4000, "x") == 1000 and parse_limit(1e6, 0, "x") == 10**6
    for bad in ("lots", "-1GB", "0", "150%", float("nan"), True):
        with pytest.raises(ValueError, match="max_memory: expected a"):
            parse_limit(bad, 100, "max_memory")
    with pytest.raises(ValueError, match="max_memory: expected a number of bytes"):
        hp.laplacian(_net(2, 1), torch.randn(3, 2), max_memory="a lot")


def test_available_memory_is_read_once_per_refresh(monkeypatch):
    from hodphys import memory_limit

    reads = []
    monkeypatch.setattr(memory_limit, "_read_available", lambda device: reads.append(device) or 2**30)
    monkeypatch.setattr(memory_limit, "_available", {})
    for _ in range(100):
        assert memory_limit.available_memory("cpu") == 2**30
    assert reads == ["cpu"]


def test_training_points_beyond_memory_are_refused_before_the_run_starts(tmp_path, capsys):
    with pytest.raises(MemoryError, match=r"training with n_interior=1000000000, .*needs an estimated 179 GiB "
                                               r".*lower these counts, or share the training points"):
        run_problem("poisson", overrides=[*TINY_POISSON, "n_interior=1000000000"], root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
    status = main(["run", "poisson", "--runs", str(tmp_path / "runs"), "--set", "n_interior=1000000000"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: training with n_interior=1000000000")
