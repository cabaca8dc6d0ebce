"""The run diagnosis: its full-data weak loss is the library's weak residual, and it reads a run directory back."""
from __future__ import annotations

import math

import pytest
import torch

from hodphys.bench.studies.sde_diagnose import (FullBatchLoss, diagnose, drift_bands, fit_to_truth, full_batch,
                                                full_weak_loss, load_run, main, supervised_drift_error, visibility,
                                                warm_start)
from hodphys.io.runs import config_to_toml
from hodphys.sde.inverse import InverseFokkerPlanck
from hodphys.sde.inverse_config import InverseConfig
from hodphys.sde.weak_form import GaussianTests, weak_residual


def _config(**changes) -> InverseConfig:
    return InverseConfig(times=[0.0, 0.1, 0.2, 0.3], n_per_time=300, n_held_out=200, test_bank=40, test_functions=8,
                         held_out_times=[0.15], components=1, n_reference_sets=2, dtype="float64", **changes)


def _write_run(path, problem: InverseFokkerPlanck, model) -> None:
    path.mkdir()
    (path / "config.toml").write_text(config_to_toml(problem.config))
    torch.save(model.state_dict(), path / "model.pt")


def test_full_weak_loss_is_the_weighted_square_of_the_weak_residual():
    problem = InverseFokkerPlanck(_config())
    model = problem.build_model()
    tests = GaussianTests(problem.tests.centres[:30], problem.tests.precisions[:30])
    for drift, diffusion in ((model.drift, model.diffusion), (problem.truth.drift, problem.truth.diffusion)):
        residual = weak_residual(drift, diffusion, problem.data.times, problem.samples, tests,
                                 problem.test_means[:, :30], problem.config.weak_span).detach()
        expected = float((problem.test_weights[:, :30] * residual.square()).mean())
        assert full_weak_loss(problem, drift, diffusion, tests=30, chunk=64) == pytest.approx(expected, rel=1e-10)
    # the untrained networks fit the snapshots worse than the law that made them
    assert full_weak_loss(problem, model.drift, model.diffusion, 40) > 2 * full_weak_loss(
        problem, problem.truth.drift, problem.truth.diffusion, 40)


def test_drift_bands_split_the_squared_error():
    problem = InverseFokkerPlanck(_config())
    bands = drift_bands(problem, problem.build_model().drift, edges=(-5.0, 0.0, 5.0))
    assert sum(band["samples"] for band in bands) == len(problem.support())
    assert sum(band["error_share"] for band in bands) == pytest.approx(1, rel=1e-12)
    assert sum(band["drift_share"] for band in bands) == pytest.approx(1, rel=1e-12)
    perfect = drift_bands(problem, problem.truth.drift, edges=(-5.0, 5.0))  # the truth itself: no error
    assert perfect[0]["relative"] == 0 and perfect[0]["error_share"] == 0


def test_diagnose_reads_a_run_directory_back(tmp_path):
    problem = InverseFokkerPlanck(_config())
    model = problem.build_model()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1)
    _write_run(tmp_path / "run", problem, model)
    reloaded, loaded = load_run(tmp_path / "run")
    assert torch.equal(reloaded.samples[2], problem.samples[2])  # the same data, simulated again
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    result = diagnose(tmp_path / "run", tests=20, supervised_steps=0)
    with pytest.raises(ValueError, match="--warm-steps"):  # no step to train: refused before the diagnostics
        diagnose(tmp_path / "run", tests=20, supervised_steps=0, warm_lrs=(1e-3,), warm_steps=0)
    assert result["weak_loss"]["learned"] == pytest.approx(
        full_weak_loss(problem, model.drift, model.diffusion, 20), rel=1e-12)
    assert result["weak_loss_ratio"] == pytest.approx(result["weak_loss"]["learned"] / result["weak_loss"]["true"])


def test_load_run_refuses_a_directory_without_a_model(tmp_path):
    with pytest.raises(ValueError, match="model.pt"):
        load_run(tmp_path)


def test_supervised_drift_error_falls_with_steps():
    problem = InverseFokkerPlanck(_config())
    untrained = supervised_drift_error(problem, steps=0)
    trained = supervised_drift_error(problem, steps=300, batch=512)
    assert trained < 0.4 * untrained and untrained > 0.5, (untrained, trained)


class _Shifted(torch.nn.Module):
    """The true drift plus a constant c: the learned coefficients' error is exactly c."""

    def __init__(self, drift: torch.nn.Module, shift: float):
        super().__init__()
        self.drift, self.shift = drift, shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drift(x) + self.shift


def test_visibility_is_zero_for_the_truth_and_quadratic_in_the_error():
    """χ² of the true coefficients is 0 everywhere; it grows like the square of a drift error (here a shift)."""
    problem = InverseFokkerPlanck(_config())
    truth = problem.truth

    def chi2(shift: float) -> dict:
        model = torch.nn.Module()
        model.drift, model.diffusion = _Shifted(truth.drift, shift), truth.diffusion
        return visibility(problem, model, paths=2000, widths=(0.3,), spacing=0.5)["0.3"]

    exact, small, large = chi2(0.0), chi2(0.05), chi2(0.1)
    assert exact["max_chi2"] == 0
    assert small["max_chi2"] > 0
    assert large["max_chi2"] == pytest.approx(4 * small["max_chi2"], rel=1e-9)
    assert small["at"] == large["at"] and len(small["max_chi2_by_x1"]) > 1


def test_fit_to_truth_fits_the_drift_and_only_with_diffusion_the_diffusion():
    problem = InverseFokkerPlanck(_config())
    torch.manual_seed(0)
    untrained = problem.coefficient_errors(problem.build_model())
    torch.manual_seed(0)
    drift_only = problem.coefficient_errors(fit_to_truth(problem, problem.build_model(), 300, 512, diffusion=False))
    torch.manual_seed(0)
    both = problem.coefficient_errors(fit_to_truth(problem, problem.build_model(), 300, 512))
    assert drift_only["diffusion_rel_l2"] == untrained["diffusion_rel_l2"]  # left alone
    assert drift_only["drift_rel_l2"] < 0.4 * untrained["drift_rel_l2"]
    assert both["diffusion_rel_l2"] < 0.4 * untrained["diffusion_rel_l2"]


def test_warm_start_starts_at_the_truth_and_trains_on_the_runs_loss():
    problem = InverseFokkerPlanck(_config())
    torch.manual_seed(0)
    untrained = problem.coefficient_errors(problem.build_model())
    still = warm_start(problem, lr=1e-9, steps=4, supervised_steps=300, every=2, tests=20)
    assert [row["step"] for row in still["trace"]] == [2, 4]
    for key in ("drift_rel_l2", "diffusion_rel_l2"):  # fitted to the truth first
        assert still["start"][key] < 0.5 * untrained[key]
    for key in ("drift_rel_l2", "diffusion_rel_l2"):  # a vanishing rate leaves the start where it was
        assert still["end"][key] == pytest.approx(still["start"][key], rel=1e-5)
    moved = warm_start(problem, lr=1e-2, steps=20, supervised_steps=300, every=20, tests=20)
    assert moved["start"] == still["start"]  # the same fit to the truth: seeded
    assert moved["end"]["drift_rel_l2"] != pytest.approx(moved["start"]["drift_rel_l2"], rel=1e-3)
    assert 0 < still["weak_loss_ratio"] < math.inf


def test_warm_start_refuses_a_bad_rate_or_step_count_before_any_fit():
    problem = InverseFokkerPlanck(_config())
    for bad in (0.0, -1e-3, math.inf, math.nan):
        with pytest.raises(ValueError, match="learning rate"):
            warm_start(problem, lr=bad, steps=10)
    with pytest.raises(ValueError, match="steps"):
        warm_start(problem, lr=1e-3, steps=0)
    for argv in (["run", "--warm-start", "0"], ["run", "--warm-start", "1e-3", "--warm-steps", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2


@pytest.mark.parametrize("rows", [dict(), dict(weak_span=0, weak_weights="none")])
def test_full_batch_loss_and_its_gradient_are_the_weak_residuals(rows):
    problem = InverseFokkerPlanck(_config(**rows))
    model = problem.build_model()
    loss = FullBatchLoss(problem, slice(0, 30), scale=2.0)
    assert loss(model.drift, model.diffusion) == pytest.approx(full_weak_loss(problem, model.drift, model.diffusion,
                                                                              30) / 2, rel=1e-10)
    tests = GaussianTests(problem.tests.centres[:30], problem.tests.precisions[:30])
    residual = weak_residual(model.drift, model.diffusion, problem.data.times, problem.samples, tests,
                             problem.test_means[:, :30], problem.config.weak_span)
    params = [p for module in (model.drift, model.diffusion) for p in module.parameters()]
    weights = 1.0 if problem.test_weights is None else problem.test_weights[:, :30]
    expected = torch.autograd.grad((weights * residual.square()).mean() / 2, params)
    value = loss.backward(model.drift, model.diffusion)  # snapshot by snapshot, into .grad
    assert float(value) == pytest.approx(loss(model.drift, model.diffusion), rel=1e-12)
    for p, g in zip(params, expected):
        assert torch.allclose(p.grad, g, rtol=1e-9, atol=1e-14)


def test_full_batch_lowers_the_loss_and_scores_unseen_test_functions():
    problem = InverseFokkerPlanck(_config())
    torch.manual_seed(0)
    result = full_batch(problem, problem.build_model(), iterations=12, tests=16, every=5)
    assert [row["iteration"] for row in result["trace"]] == [5, 10, 12]
    ratios = [result["start"]["loss_ratio"], *(row["loss_ratio"] for row in result["trace"])]
    assert ratios[-1] < 0.5 * ratios[0] and all(b <= a * (1 + 1e-9) for a, b in zip(ratios, ratios[1:]))
    assert 0 < result["end"]["unseen_loss_ratio"] < math.inf and result["end"]["drift_rel_l2"] > 0


def test_full_batch_refuses_bad_requests(tmp_path):
    problem = InverseFokkerPlanck(_config())
    model = problem.build_model()
    for bad in (dict(iterations=0), dict(iterations=5, tests=21), dict(iterations=5, every=0)):
        with pytest.raises(ValueError, match="full_batch"):
            full_batch(problem, model, **bad)
    _write_run(tmp_path / "run", problem, model)
    with pytest.raises(ValueError, match="--full-batch-tests 21"):
        diagnose(tmp_path / "run", tests=20, supervised_steps=0, full_iterations=5, full_tests=21)
    for argv in (["run", "--full-batch", "-1"], ["run", "--full-batch", "5", "--full-batch-tests", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
