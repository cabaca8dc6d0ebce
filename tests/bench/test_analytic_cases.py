"""The analytic and hessQuik bench groups run end to end at quick sizes."""
from hodphys.bench.registry import BenchEnv, select_cases
from hodphys.bench.runner import BenchOptions, run_case


def test_analytic_and_hessquik_groups_run_quick_and_agree():
    cases = select_cases("analytic") + [c for c in select_cases("hessquik") if c.name in ("HQ-d16-m8-n10",)]
    assert [c.name for c in cases] == ["E-laplacian-1000d", "HQ-d16-m8-n10"]
    assert len(select_cases("hessquik")) == 39  # 44 cells less the 5 whose Hessian exceeds 512 MiB
    for case in cases:
        result = run_case(case, BenchEnv(quick=True), BenchOptions(repeat=1, warmup=0, quick=True, memory=False))
        rows = {row["name"]: row for row in result["contenders"]}
        assert "torch.func" in rows and any(name.startswith("hp[auto→") for name in rows)
        assert all(row["ok"] and row["rel_error"] < 1e-4 for row in rows.values()), rows
