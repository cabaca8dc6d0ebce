"""The rom bench group runs end to end at quick sizes."""
import pytest

from hodphys.bench.registry import BenchEnv, select_cases
from hodphys.bench.runner import BenchOptions, run_case

QUICK = BenchOptions(repeat=1, warmup=0, quick=True, memory=False)


def test_rom_group_lists_step_and_decoder_cases():
    assert [c.name for c in select_cases("rom")] == ["rom-step-coarse", "rom-step-fine", "rom-decoder-jet",
                                                     "rom-decoder-third-order"]


@pytest.mark.parametrize("name", ["rom-decoder-jet", "rom-decoder-third-order"])
def test_decoder_derivative_cases_agree_with_torch_func(name):
    (case,) = [c for c in select_cases("rom") if c.name == name]
    rows = {row["name"]: row for row in run_case(case, BenchEnv(quick=True), QUICK)["contenders"]}
    assert "torch.func" in rows and any(n.startswith("hp[auto→") for n in rows)
    assert all(row["ok"] and row["rel_error"] < 1e-4 for row in rows.values()), rows


@pytest.mark.slow
def test_step_case_runs_every_model():
    (case,) = [c for c in select_cases("rom") if c.name == "rom-step-coarse"]
    rows = {row["name"]: row for row in run_case(case, BenchEnv(quick=True), QUICK)["contenders"]}
    assert set(rows) == {"full order", "PCA-ROM", "neural ROM", "neural ROM + cubature"}
    assert all(row["ok"] for row in rows.values()), rows
