"""Peak memory of a contender in a spawned process (a few seconds: the child imports torch)."""
from __future__ import annotations

import sys

import pytest
import torch

from hodphys.bench import memory
from hodphys.bench.registry import BenchEnv

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak RSS reads /proc")


@linux_only
def test_rss_peak_sees_a_large_temporary():
    # A-laplacian-pinn's torch.func contender in quick mode allocates little; the 64 MiB
    # temporary below must show up, so the measurement is not blind to freed blocks.
    big = memory._measure_rss(lambda: torch.ones(16 * 2**20).sum())
    small = memory._measure_rss(lambda: torch.ones(16).sum())
    assert big["peak_bytes"] >= 60 * 2**20 > small["peak_bytes"]
    assert small["baseline_bytes"] > 0


@linux_only
def test_rss_peak_of_a_case_in_a_child_process():
    found = memory.rss_peak("A-laplacian-pinn", "hp[multicomplex]", BenchEnv(quick=True), threads=1)
    assert set(found) == {"peak_bytes", "baseline_bytes"}
    assert 0 <= found["peak_bytes"] < found["baseline_bytes"]


@linux_only
def test_rss_peak_reports_a_failure_in_the_child():
    found = memory.rss_peak("A-laplacian-pinn", "no such contender", BenchEnv(quick=True), threads=1)
    assert found == {"error": "KeyError: 'no such contender'"}
