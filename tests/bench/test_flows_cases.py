"""The flows bench group: every case runs at quick sizes and its contenders agree; the check is real."""
import importlib.util

import pytest
import torch

from hodphys.bench.cases.flows import unbiased_error
from hodphys.bench.registry import BenchEnv, select_cases
from hodphys.bench.runner import BenchOptions, run_case


def test_flows_group_has_a_training_and_a_log_prob_case_per_dimension():
    names = [case.name for case in select_cases("flows")]
    assert names == [f"flows-{kind}-d{d}" for d in (2, 16, 64, 256) for kind in ("train", "logprob")]


@pytest.mark.parametrize("name", ["flows-train-d64", "flows-logprob-d256"])
def test_flows_cases_run_quick_and_agree(name):
    (case,) = select_cases(names=[name])
    result = run_case(case, BenchEnv(quick=True), BenchOptions(repeat=1, warmup=0, quick=True, memory=False))
    rows = {row["name"]: row for row in result["contenders"]}
    expected = {"hp exact (hollow, 1 pass)", "hp hutchinson", "hp brute (d passes)"}
    if importlib.util.find_spec("zuko") is not None:
        expected |= {"zuko exact", "zuko hutchinson"}
    assert set(rows) == expected
    assert all(row["ok"] for row in rows.values()), rows
    assert rows["hp exact (hollow, 1 pass)"]["rel_error"] == 0 and "4 evaluations per solve" in result["description"]


def test_unbiased_error_passes_noise_and_flags_bias():
    generator = torch.Generator().manual_seed(0)
    reference = -3 - torch.rand(400, generator=generator, dtype=torch.float64)
    noise = torch.randn(400, generator=generator, dtype=torch.float64)
    assert unbiased_error(reference + 0.1 * noise, reference) == 0
    assert unbiased_error(reference + 0.1 * noise + 0.1, reference) > 1e-2
    assert unbiased_error(reference[:3], reference) == float("inf")
