"""The analytic benchmarks at tiny sizes: they run, report every engine, and render tables."""
import torch

from hodphys.bench.studies import analytic as benchmark
from hodphys.bench.measure import peak_bytes, time_interleaved


def test_issue_cases_report_times_choice_and_speedup():
    cases = [benchmark.Case("tiny Laplacian", (2, 6, 6, 2), 8, "laplacian", 1.0),
             benchmark.Case("tiny decoder", (3, 5, 7), 1, "directional_grad", 1.0)]
    rows = benchmark.issue_cases(cases, repeats=1)
    assert [r["case"] for r in rows] == ["tiny Laplacian", "tiny decoder"]
    for row in rows:
        assert {"auto", "autograd", "multicomplex"} <= set(row["times"]) and row["speedup"] > 0
        assert row["fastest"] in row["times"] and row["chosen"] in row["times"]
    assert "tiny decoder" in benchmark.render_cases(rows)
    floor = benchmark.laplacian_floor(cases[:1], repeats=1)
    assert floor[0]["per_forward"] > 0 and "(d+2)" in benchmark.render_floor(floor)


def test_hessquik_sweep_skips_cells_over_budget_and_measures_memory():
    rows = benchmark.hessquik_sweep(dims=(2, 64), outputs=(1,), batches=(3,), repeats=1, budget_bytes=4 * 3 * 4 * 4)
    assert "times" in rows[0] and rows[0]["peak"]["hodphys"] > 0
    assert "skipped" in rows[1]
    assert "skipped: Hessian >" in benchmark.render_sweep(rows)
    model = benchmark.timing_network(5, 2)
    assert [type(m).__name__ for m in model] == ["Linear", "LogCosh"] + ["ResidualBlock"] * 4 + ["Linear"]


def test_measurements():
    assert peak_bytes(lambda: torch.empty(1000, dtype=torch.float64)) == 8000
    assert peak_bytes(lambda: [torch.empty(250) for _ in range(3)]) == 3000
    times = time_interleaved({"a": lambda: None, "b": lambda: sum(range(100))}, repeats=3)
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())
    assert torch.get_num_threads() == 1  # restored to the suite's setting
