"""The "jax" bench group (HoD-Net Fig. 3 and folx Laplacians), the skip path and the CPU clock.

No timing assertions: the JAX twins are checked for agreement with hodphys, the bookkeeping for
a missing extra and for ``--clock cpu`` for what they report.
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import hodphys as hp
from hodphys.bench import report, timing
from hodphys.bench.cases.jax import fig3_network
from hodphys.bench.references import jax_twin
from hodphys.bench.registry import BenchEnv, CaseSkipped, select_cases
from hodphys.bench.runner import BenchOptions, all_correct, make_env, run_bench

needs_jax = pytest.mark.skipif(not jax_twin.folx_available(), reason="needs the jax extra (jax, jaxlib, folx)")
QUICK = BenchOptions(group="jax", quick=True, repeat=1, warmup=0, memory=False)


def test_group_lists_every_fig3_cell_and_both_laplacians():
    names = [case.name for case in select_cases("jax")]
    assert len(names) == 14 and {"A-laplacian-folx", "B-laplacian-folx"} <= set(names)
    assert {f"F3-{q}-{d}-{m}-b{n}" for q in ("jaco", "hess") for d, m in ((40, 400), (200, 200), (400, 40))
            for n in (1, 16)} <= set(names)


def test_fig3_network_is_eight_elu_layers():
    model = fig3_network(40, 400, BenchEnv())
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert len(linears) == 8 and [m.out_features for m in linears] == [200] * 7 + [400]
    assert sum(isinstance(m, nn.ELU) for m in model) == 7 and linears[0].in_features == 40


def test_without_jax_the_cases_are_skipped_with_the_install_hint(monkeypatch, capsys):
    monkeypatch.setattr(jax_twin, "available", lambda: False)
    with pytest.raises(CaseSkipped, match=r"pip install -e '\.\[jax\]'"):
        select_cases(None, ["A-laplacian-folx"])[0].build(BenchEnv(quick=True))
    results = run_bench(BenchOptions(cases=("F3-jaco-40-400-b1",), quick=True, repeat=1, warmup=0, memory=False))
    case = results["cases"][0]
    assert case["skipped"] == jax_twin.MISSING and case["contenders"] == []
    assert all_correct(results)  # skipped is not failed
    assert "skipped: JAX contenders need jax" in report.format_table(results)


def test_twin_rejects_layers_it_cannot_copy():
    if not jax_twin.available():
        pytest.skip("needs the jax extra")
    with pytest.raises(ValueError, match=r"jax twin: expected nn.Linear, nn.ELU or nn.Tanh layers, got Sigmoid"):
        jax_twin.twin(nn.Sequential(nn.Linear(2, 3), nn.Sigmoid()), torch.float32)


@needs_jax
@pytest.mark.parametrize("case", ["F3-jaco-400-40-b16", "F3-hess-40-400-b1", "B-laplacian-folx"])
def test_jax_twins_agree_with_hodphys_in_quick_mode(case):
    results = run_bench(BenchOptions(cases=(case,), quick=True, repeat=1, warmup=0, memory=False))
    rows = {row["name"]: row for row in results["cases"][0]["contenders"]}
    assert all_correct(results) and results["cases"][0]["reference"] in ("JAX", "folx")
    assert any(name.startswith("hp[auto→") for name in rows)
    compiled = [name for name in rows if name.startswith("compiled hp[auto→")]
    assert len(compiled) == (0 if "hess" in case else 1)   # jit's peer: a compiled plan, not for the Hessians
    reference = results["cases"][0]["reference"]
    assert rows[reference]["setup_s"] > 0 and all(rows[name]["setup_s"] > 0 for name in compiled)
    assert all(rows[name]["setup_s"] is None for name in rows if name.startswith("hp["))
    assert f"one-time setup, not in the times (compiling): {reference} " in report.format_table(results)


@needs_jax
def test_jax_runs_on_one_thread_and_in_float64():
    jax_twin.import_jax(torch.float64)
    assert jax_twin.single_threaded()
    model = fig3_network(40, 400, BenchEnv(dtype=torch.float64, quick=True))
    x = torch.randn(3, model[0].in_features, dtype=torch.float64)
    h = jax_twin.hessian(model, x)()
    assert h.dtype == torch.float64
    torch.testing.assert_close(h, hp.hessian(model, x), rtol=1e-10, atol=1e-12)


def test_cpu_clock_counts_work_not_sleep():
    times, _ = timing.interleaved({"sleep": lambda: time.sleep(0.02)}, repeat=2, warmup=0, clock=time.process_time)
    assert max(times["sleep"]) < 0.01  # a sleeping process uses no CPU time
    wall, _ = timing.interleaved({"sleep": lambda: time.sleep(0.02)}, repeat=1, warmup=0)
    assert wall["sleep"][0] >= 0.02


@pytest.mark.parametrize("options", [BenchOptions(clock="gpu"), BenchOptions(clock="cpu", device="cuda")])
def test_bad_clock_is_a_clear_error(options):
    expected = "--clock .* needs one of \\['cpu', 'wall'\\], and 'cpu' only with --device cpu"
    with pytest.raises(ValueError, match=expected):
        make_env(options)


@needs_jax
def test_without_folx_only_the_folx_cases_are_skipped(monkeypatch):
    monkeypatch.setattr(jax_twin, "folx_available", lambda: False)
    with pytest.raises(CaseSkipped, match=r"the folx contender needs folx \(not installed here\): pip install folx"):
        select_cases(None, ["B-laplacian-folx"])[0].build(BenchEnv(quick=True))
    spec = select_cases(None, ["F3-jaco-40-400-b1"])[0].build(BenchEnv(quick=True))
    assert spec.reference == "JAX" and "JAX" in spec.contenders


@needs_jax
def test_jax_follows_the_input_device():
    import jax
    x = torch.randn(2, 3)
    assert jax_twin.device_of(x) == jax.devices("cpu")[0]
    if not any(d.platform == "gpu" for d in jax.devices()):
        on_gpu = SimpleNamespace(device=torch.device("cuda", 0), dtype=torch.float32)
        with pytest.raises(RuntimeError, match=r"x is on cuda:0 but JAX has no GPU backend"):
            jax_twin.device_of(on_gpu)
