"""The bench harness: quick end-to-end run, JSON, interleaving, statistics, checks, errors.

No timing assertions: only the bookkeeping around the clock is tested.
"""
from __future__ import annotations

import gc
import json
import time

import pytest
import torch

from hodphys.app import cli
from hodphys.bench import report, timing
from hodphys.bench.nets import tanh_mlp
from hodphys.bench.registry import CASES, BenchEnv, BenchSpec, bench_case, select_cases
from hodphys.bench.runner import BenchOptions, all_correct, make_env, run_bench, run_case

CONTENDER_KEYS = {"name", "error", "ok", "rel_error", "median_s", "q1_s", "q3_s", "min_s", "max_s",
                  "times_s", "calls_per_sample", "speedup"}


@pytest.fixture
def temporary_case():
    """Register cases for one test and remove them afterwards."""
    added = []

    def register(name, build, group="test-only"):
        bench_case(name, group)(build)
        added.append(name)
        return CASES[name]

    yield register
    for name in added:
        CASES.pop(name)


def test_quick_run_end_to_end_writes_json(tmp_path, capsys):
    path = tmp_path / "out" / "quick.json"
    assert cli.main(["bench", "--quick", "--json", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "A-laplacian-pinn" in printed and "hp[multicomplex]" in printed and "speed-up" in printed
    results = json.loads(path.read_text())
    assert {"time", "torch", "cpu", "threads", "dtype", "repeat", "warmup", "load_average"} <= set(results["meta"])
    assert results["meta"]["threads"] == 1 and results["meta"]["dtype"] == "float32"
    names = [case["name"] for case in results["cases"]]
    assert names == [case.name for case in select_cases("foundation")]
    for case in results["cases"]:
        contenders = {row["name"]: row for row in case["contenders"]}
        assert {"torch.func", "autograd loop", "hp[multicomplex]", "hp[autograd]"} <= set(contenders)
        assert any(name.startswith("hp[auto→") for name in contenders)
        for row in contenders.values():
            assert CONTENDER_KEYS <= set(row) and row["ok"] and row["error"] is None
            assert len(row["times_s"]) == results["meta"]["repeat"] == 3
            assert row["q1_s"] <= row["median_s"] <= row["q3_s"]
        assert contenders["torch.func"]["speedup"] == 1.0


def test_schedule_runs_each_once_per_repetition_in_varying_seeded_orders():
    orders = timing.schedule("abcd", 20)
    assert len(orders) == 20 and all(sorted(order) == list("abcd") for order in orders)
    assert len({tuple(order) for order in orders}) > 5  # not one fixed cycle
    predecessors = {(order[i - 1], order[i]) for order in orders for i in range(1, 4)}
    assert len(predecessors) == 12  # every contender follows every other one at some point
    assert timing.schedule("abcd", 20) == orders  # reproducible
    assert timing.schedule([], 2) == [[], []]


def test_interleaved_runs_round_robin_and_discards_warmup():
    calls = []
    contenders = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times, number = timing.interleaved(contenders, repeat=2, warmup=1)
    orders = timing.schedule("abc", 3)
    assert calls == [name for order in orders for name in order]
    assert {name: len(t) for name, t in times.items()} == {"a": 2, "b": 2, "c": 2}
    assert number == {"a": 1, "b": 1, "c": 1}
    assert gc.isenabled()


def test_fast_contenders_are_called_several_times_per_sample():
    calls = {"fast": 0, "slow": 0}

    def fast():
        calls["fast"] += 1

    def slow():
        calls["slow"] += 1
        time.sleep(0.02)

    times, number = timing.interleaved({"fast": fast, "slow": slow}, repeat=3, warmup=2, min_time=0.01)
    assert number["slow"] == 1 and number["fast"] > 1
    assert calls == {"slow": 2 + 3, "fast": 2 + 3 * number["fast"]}
    assert all(t < 0.01 for t in times["fast"]) and all(t >= 0.02 for t in times["slow"])


def test_calls_per_sample():
    assert timing.calls_per_sample(0.5, 0.05) == 1
    assert timing.calls_per_sample(0.001, 0.05) == 50
    assert timing.calls_per_sample(0.0, 0.0) == 1
    assert timing.calls_per_sample(0.0, 0.05) == 1000


def test_interleaved_rejects_bad_counts():
    with pytest.raises(ValueError, match="expected repeat to be an integer ≥ 1"):
        timing.interleaved({"a": lambda: None}, repeat=0, warmup=1)
    with pytest.raises(ValueError, match="expected warmup to be an integer ≥ 0, got -1"):
        timing.interleaved({"a": lambda: None}, repeat=1, warmup=-1)


def test_summarize_median_quartiles_and_speedup():
    stats = timing.summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert stats == {"median": 3.0, "q1": 2.0, "q3": 4.0, "min": 1.0, "max": 5.0}
    assert timing.summarize([1.0, 2.0])["median"] == 1.5
    assert timing.speedup(6.0, 2.0) == 3.0
    assert timing.speedup(1.0, 0.0) == float("inf")
    with pytest.raises(ValueError, match="expected at least one time"):
        timing.summarize([])


def _three_contenders(env: BenchEnv) -> BenchSpec:
    x = torch.arange(4.0)
    return BenchSpec("x²: two right, one wrong, one that raises",
                     {"torch.func": lambda: x * x, "right": lambda: x.square(), "wrong": lambda: x * x + 1,
                      "raises": lambda: torch.ones(2) @ torch.ones(3)})


def test_wrong_and_failing_contenders_are_flagged(temporary_case):
    case = temporary_case("T-wrong", _three_contenders)
    result = run_case(case, BenchEnv(quick=True), BenchOptions(repeat=2, warmup=0, quick=True, memory=False))
    rows = {row["name"]: row for row in result["contenders"]}
    assert rows["right"]["ok"] and rows["right"]["rel_error"] == 0.0
    assert not rows["wrong"]["ok"] and rows["wrong"]["rel_error"] == pytest.approx(2 / 98 ** 0.5)
    assert not rows["raises"]["ok"] and "RuntimeError" in rows["raises"]["error"]
    assert "median_s" not in rows["raises"]
    assert not all_correct({"cases": [result]})
    table = report.format_table({"cases": [result]})
    assert "WRONG" in table and "FAILED" in table and "raises failed: RuntimeError" in table


def test_failing_reference_is_an_error(temporary_case):
    case = temporary_case("T-bad-ref", lambda env: BenchSpec("no reference", {"torch.func": lambda: 1 / None}))
    with pytest.raises(RuntimeError, match="the reference contender 'torch.func' failed: TypeError"):
        run_case(case, BenchEnv(quick=True), BenchOptions(quick=True, memory=False))


def test_missing_reference_is_an_error(temporary_case):
    case = temporary_case("T-no-ref", lambda env: BenchSpec("no reference", {"other": lambda: torch.ones(1)}))
    with pytest.raises(ValueError, match="reference 'torch.func' is not among its contenders"):
        run_case(case, BenchEnv(quick=True), BenchOptions(quick=True, memory=False))


def test_duplicate_case_name_is_an_error(temporary_case):
    temporary_case("T-dup", _three_contenders)
    with pytest.raises(ValueError, match="a different case of that name is already registered"):
        bench_case("T-dup")(lambda env: None)


def test_cli_wrong_result_exits_1(temporary_case, tmp_path, capsys):
    temporary_case("T-wrong-cli", _three_contenders)
    status = cli.main(["bench", "--case", "T-wrong-cli", "--quick", "--json", str(tmp_path / "r.json")])
    assert status == 1
    assert "FAILED or gave a WRONG result" in capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["cases"][0]["contenders"][2]["rel_error"] > 0


def test_unknown_case_and_group_are_clear_errors(capsys):
    with pytest.raises(ValueError, match=r"unknown case\(s\) \['nope'\]; known cases: .*A-laplacian-pinn"):
        select_cases(names=["nope"])
    with pytest.raises(ValueError, match="unknown group 'nope'; known groups: .*foundation"):
        select_cases("nope")
    assert cli.main(["bench", "--group", "nope"]) == 2
    assert "unknown group 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("options, message", [
    (BenchOptions(repeat=3), "--repeat must be ≥ 5"),
    (BenchOptions(repeat=0, quick=True), "expected --repeat ≥ 1, --warmup ≥ 0, --threads ≥ 1 and --min-time ≥ 0"),
    (BenchOptions(min_time=-1.0), "expected --repeat ≥ 1, --warmup ≥ 0, --threads ≥ 1 and --min-time ≥ 0"),
    (BenchOptions(dtype="float16"), "unknown --dtype 'float16'"),
    (BenchOptions(device="tpu"), "unknown --device 'tpu'"),
])
def test_bad_options_are_clear_errors(options, message):
    with pytest.raises(ValueError, match=message):
        make_env(options)


def test_cuda_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="--device cuda: CUDA is not available"):
        make_env(BenchOptions(device="cuda"))


def test_list_names_every_case(capsys):
    assert cli.main(["bench", "--list"]) == 0
    printed = capsys.readouterr().out
    for case in select_cases("foundation"):
        assert case.name in printed
    groups_line = next(line for line in printed.splitlines() if line.startswith("groups:"))
    groups = set(groups_line.removeprefix("groups:").replace(",", " ").split())
    assert {"foundation", "training", "fem", "hollow", "analytic"} <= groups


def test_markdown_table_and_strict_json(tmp_path):
    results = run_bench(BenchOptions(cases=("C-hessian",), quick=True, repeat=2, warmup=0, memory=False))
    table = report.format_table(results, markdown=True).splitlines()
    assert table[0].startswith("| case | contender | median") and table[1].startswith("|---|")
    rows = len(results["cases"][0]["contenders"])
    assert all(line.startswith("| C-hessian |") for line in table[2:2 + rows]) and table[2 + rows] == ""
    assert "threads=1, float32" in table[-2] and table[-1].startswith("- C-hessian: full Hessian")
    results["cases"][0]["contenders"][0]["rel_error"] = float("inf")
    path = report.write_json(results, tmp_path / "strict.json")
    assert "Infinity" not in path.read_text()
    assert json.loads(path.read_text())["cases"][0]["contenders"][0]["rel_error"] is None


def test_peak_memory_cell():
    assert report._memory({"memory": {"peak_bytes": 3 * 2**20}}) == "3.0 MiB"
    assert report._memory({"memory": {"peak_bytes": 40 * 2**10}}) == "40 KiB"
    assert report._memory({"memory": {"error": "x"}}) == "failed"
    assert report._memory({}) == "—"


def test_format_seconds_units():
    assert report.format_seconds(1.5) == "1.5 s"
    assert report.format_seconds(0.0123) == "12.3 ms"
    assert report.format_seconds(4.56e-6) == "4.56 µs"
    assert report.format_seconds(None) == "—"


def test_training_case_gradients_agree_in_quick_mode():
    results = run_bench(BenchOptions(group="training", quick=True, repeat=1, warmup=0, memory=False))
    assert [case["name"] for case in results["cases"]] == ["A-laplacian-pinn-train"]
    assert all_correct(results)


def test_tanh_mlp_layout_and_frozen_weights():
    model = tanh_mlp([2, 5, 3], BenchEnv(dtype=torch.float64))
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear"]
    assert all(p.dtype == torch.float64 and not p.requires_grad for p in model.parameters())
    assert all(p.requires_grad for p in tanh_mlp([2, 3], BenchEnv(), trainable=True).parameters())
    with pytest.raises(ValueError, match=r"mlp: expected at least an input and an output width, got \[2\]"):
        tanh_mlp([2], BenchEnv())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_quick_run_on_cuda_with_allocator_peaks():
    results = run_bench(BenchOptions(cases=("A-laplacian-pinn",), quick=True, device="cuda", repeat=2, warmup=1))
    assert all_correct(results) and results["meta"]["gpu"]
    assert all(row["memory"]["peak_bytes"] >= 0 for row in results["cases"][0]["contenders"])


def test_fem_group_quick_run_agrees_with_its_reference(tmp_path):
    path = tmp_path / "fem.json"
    assert cli.main(["bench", "--group", "fem", "--quick", "--no-memory", "--json", str(path)]) == 0
    rows = json.loads(path.read_text())["cases"]
    assert {case["name"] for case in rows} == {"fem-newton-coarse", "fem-newton-fine"}


def test_a_broken_case_is_reported_and_the_others_still_run_and_are_saved(temporary_case, tmp_path, capsys):
    def good(env):
        """A working case."""
        x = torch.ones(3)
        return BenchSpec("fine", {"ref": lambda: x * 2, "same": lambda: x + x, "tuple": lambda: (x,)}, "ref")

    def broken(env):  # no docstring: --list must still work
        raise RuntimeError("cannot build")

    temporary_case("T-good", good, group="test-broken")
    temporary_case("T-broken", broken, group="test-broken")
    assert cli.main(["bench", "--list"]) == 0
    path = tmp_path / "r.json"
    assert cli.main(["bench", "--group", "test-broken", "--quick", "--json", str(path)]) == 1
    results = json.loads(path.read_text())
    by_name = {case["name"]: case for case in results["cases"]}
    assert by_name["T-broken"]["error"] == "RuntimeError: cannot build"
    rows = {row["name"]: row for row in by_name["T-good"]["contenders"]}
    assert rows["same"]["ok"] and not rows["tuple"]["ok"] and "cannot compare" in rows["tuple"]["error"]
    assert "the case failed: RuntimeError: cannot build" in capsys.readouterr().out
    assert cli.main(["bench", "--group", "test-broken", "--quick", "--min-time", "nan"]) == 2
    assert "--min-time ≥ 0" in capsys.readouterr().err
