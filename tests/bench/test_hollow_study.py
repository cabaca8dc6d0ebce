"""Smoke test of the benchmark functions at small sizes (no timing assertions)."""
import torch

from hodphys.bench.studies import hollow as benchmark


def test_time_divergence_rows_are_complete_and_agree():
    row = benchmark.time_divergence(d=8, batch=4, repeats=2, conditioner="masked")
    assert (row.d, row.batch, row.conditioner, row.repeats) == (8, 4, "masked", 2)
    assert row.hollow_s > 0 and row.brute_s > 0 and row.ratio > 0
    assert row.max_abs_diff < 1e-5
    table = benchmark.format_table([*benchmark.growth(dims=(4, 8), batch=3, repeats=1), row])
    assert table.count("\n") == 4 and "| 8 | 4 | masked |" in table


def test_brute_force_chunks_give_the_trace():
    net = benchmark.benchmark_net(6).double()
    x = torch.randn(5, 6, dtype=torch.float64)
    trace = torch.func.vmap(torch.func.jacrev(lambda y: net(y.unsqueeze(0))[0]))(x).diagonal(dim1=1, dim2=2).sum(-1)
    assert torch.allclose(benchmark.brute_force_divergence(net, x, budget=6 * 6 * benchmark.WIDTH * 2), trace,
                          atol=1e-12)


def test_main_quick_prints_tables(capsys):
    benchmark.main(["--quick", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "| 32 | 64 | sum |" in out and "| 32 | 64 | masked |" in out and "| 16 | 16 | sum |" in out
