"""The inverse problem's evaluation: the MMD yardstick is the mean over K independent true sample sets."""
from __future__ import annotations

import math
import statistics

import pytest
import torch

from hodphys.sde.inverse import InverseConfig, InverseFokkerPlanck
from hodphys.sde.metrics import median_bandwidth, mmd, wasserstein2


def _problem(**overrides) -> InverseFokkerPlanck:
    values = dict(n_per_time=40, n_held_out=60, n_reference_sets=3, simulation_dt=0.05, times=[0.0, 0.3, 0.6],
                  held_out_times=[0.45], components=2, hollow_width=8, hidden_features=2, n_interior=16,
                  adam_steps=3, dtype="float64") | overrides
    return InverseFokkerPlanck(InverseConfig(**values))


@pytest.fixture(scope="module")
def evaluated():
    problem = _problem()
    torch.manual_seed(0)
    model = problem.build_model()
    return problem, model, problem.metrics(model)


def test_reference_sets_are_independent_of_each_other_and_of_held_out(evaluated):
    problem, _, _ = evaluated
    assert len(problem.references) == 3 and problem.eval_times == [0.3, 0.45, 0.6]
    for k in range(len(problem.eval_times)):
        sets = [problem.held_out.samples[k], *(r.samples[k] for r in problem.references)]
        assert all(x.shape == (60, 2) and bool(torch.isfinite(x).all()) for x in sets)
        for i in range(len(sets)):
            for j in range(i + 1, len(sets)):  # no particle shared: a reused seed would repeat every row
                assert float(torch.cdist(sets[i], sets[j]).min()) > 1e-9


def test_yardstick_is_the_mean_of_the_reference_distances_with_one_bandwidth(evaluated):
    problem, model, out = evaluated
    learned = problem.learned_samples(model)
    ratios, single_draw = [], []
    for k, t in enumerate(problem.eval_times):
        held = problem.held_out.samples[k]
        h = median_bandwidth(held, problem.references[0].samples[k])
        each = [mmd(r.samples[k], held, h) for r in problem.references]
        assert len(set(each)) == 3 and min(each) > 0
        assert out[f"mmd_true_t{t:g}"] == pytest.approx(statistics.mean(each), rel=1e-12)
        assert out[f"mmd_true_sd_t{t:g}"] == pytest.approx(statistics.stdev(each), rel=1e-10)
        assert out[f"mmd_t{t:g}"] == pytest.approx(mmd(learned[k + 1], held, h), rel=1e-12)  # the same h
        w2 = [wasserstein2(r.samples[k], held) for r in problem.references]
        assert out[f"w2_true_t{t:g}"] == pytest.approx(statistics.mean(w2), rel=1e-12)
        assert out[f"w2_true_sd_t{t:g}"] == pytest.approx(statistics.stdev(w2), rel=1e-10)
        ratios.append(out[f"mmd_t{t:g}"] / statistics.mean(each))
        single_draw.append(out[f"mmd_t{t:g}"] / each[0])
    assert out["mmd_ratio_max"] == pytest.approx(max(ratios), rel=1e-12)
    assert out["mmd_ratio_single_draw_max"] == pytest.approx(max(single_draw), rel=1e-12)
    assert problem.yardstick is problem.yardstick  # model-independent: computed once


def test_metrics_have_the_yardstick_keys_with_finite_values(evaluated):
    _, _, out = evaluated
    for t in ("0.3", "0.45", "0.6"):
        for key in ("mmd", "mmd_true", "mmd_true_sd", "w2", "w2_true", "w2_true_sd"):
            assert math.isfinite(out[f"{key}_t{t}"]) and out[f"{key}_t{t}"] > 0
    assert math.isfinite(out["mmd_ratio_max"]) and math.isfinite(out["mmd_ratio_single_draw_max"])
    assert "3 independent true sets of 60" in out["mmd_yardstick"] and "reference set 1" in out["mmd_bandwidth_rule"]


def test_reference_sets_are_simulated_when_evaluation_needs_them():
    problem = _problem(n_reference_sets=4)
    assert "references" not in vars(problem)  # constructing the problem (training) does not pay for them
    assert len(problem.references) == 4 and problem.references[0] is problem._first_reference


def test_reference_sets_are_validated_before_simulation():
    with pytest.raises(ValueError, match=r"config key 'n_reference_sets': expected ≥ 2 .* got 1"):
        _problem(n_reference_sets=1)
