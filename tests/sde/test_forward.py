"""The forward problem: a PINN for log p of an OU process through hodphys.train."""
from __future__ import annotations

import pytest
import torch

import hodphys.sde as sde
from hodphys.app.problem_loader import run_problem
from hodphys.sde.forward import ForwardConfig, ForwardFokkerPlanck


def test_initial_condition_is_exact_and_loss_is_the_residual():
    problem = ForwardFokkerPlanck(ForwardConfig(dtype="float64", widths=[8]))
    torch.manual_seed(0)
    model = problem.build_model()
    x = problem.sample(torch.Generator().manual_seed(0), 32)["x"]
    zero = torch.zeros(32, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(model(sde.space_time(x, zero))[:, 0], problem.process.log_density(x, zero), rtol=1e-14)
    batch = problem.sample(torch.Generator().manual_seed(1), 16)
    loss, terms = problem.loss(model, batch)
    expected = sde.fokker_planck_residual(problem.process.drift, problem.process.diffusion,
                                          sde.density_terms(model, batch["x"], batch["t"]), batch["x"], batch["t"])
    assert float(loss.detach()) == pytest.approx(float(expected.detach().square().mean()), rel=1e-12)


def test_bad_config():
    with pytest.raises(ValueError, match="config key 'theta': expected 1 or dim=3 values"):
        ForwardFokkerPlanck(ForwardConfig(dim=3))
    with pytest.raises(ValueError, match="config key 't_final': expected a finite value > 0, got 0.0"):
        ForwardFokkerPlanck(ForwardConfig(t_final=0.0))
    with pytest.raises(ValueError, match="config key 'box_stds': expected a finite value > 0, got inf"):
        ForwardFokkerPlanck(ForwardConfig(box_stds=float("inf")))
    with pytest.raises(ValueError, match="config key 'dim': expected value to be an integer ≥ 1, got 0"):
        ForwardFokkerPlanck(ForwardConfig(dim=0))


def test_short_run_writes_metrics_and_plot(tmp_path):
    run, metrics = run_problem("fokker-planck-ou", overrides=["adam_steps=5", "optimizer_steps=0", "widths=[8]",
                                                              "n_interior=64", "grid_size=21"], root=tmp_path)
    assert 0 < metrics["rel_l2_p_final"] < 10 and metrics["steps"] == 5
    assert (run.dir / "plots" / "density.png").stat().st_size > 5000


@pytest.mark.slow
def test_default_run_meets_the_accuracy_target(tmp_path):
    _, metrics = run_problem("fokker-planck-ou", root=tmp_path)
    assert metrics["rel_l2_p_final"] <= 1e-2
