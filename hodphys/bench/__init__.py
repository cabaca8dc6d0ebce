"""``hodphys bench``: time every derivative engine against torch.func and DeepXDE-style loops.

Each case (see :mod:`hodphys.bench.cases`) builds contenders that compute one quantity; the
harness checks each against the reference (torch.func) once, times them interleaved (median of
≥ 5 repetitions after warm-up, one thread, float32 by default), measures peak memory, prints a
table and writes JSON::

    from hodphys.bench import BenchOptions, run_bench, format_table
    print(format_table(run_bench(BenchOptions(cases=("A-laplacian-pinn",)))))
"""
from hodphys.bench.registry import CASES, BenchEnv, BenchSpec, bench_case, select_cases
from hodphys.bench.report import format_table, write_json
from hodphys.bench.runner import BenchOptions, run_bench

__all__ = ["CASES", "BenchEnv", "BenchSpec", "bench_case", "select_cases", "BenchOptions", "run_bench",
           "format_table", "write_json"]
