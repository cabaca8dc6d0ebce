"""Kernel choices of the analytic engine: the oneDNN GEMM for many graph-free float32 rows."""
import torch

import hodphys as hp
from hodphys.engines.analytic import jet


def test_rows_linear_matches_torch_linear_on_both_paths():
    g = torch.Generator().manual_seed(0)
    rows, weight = torch.randn(9, 300, 64, generator=g), torch.randn(48, 64, generator=g)
    assert rows.numel() >= jet.ONEDNN_ROWS * 64  # the oneDNN path
    torch.testing.assert_close(jet.rows_linear(rows, weight), torch.nn.functional.linear(rows, weight),
                               rtol=1e-5, atol=1e-5)
    small = rows[:1, :10]
    assert torch.equal(jet.rows_linear(small, weight), torch.nn.functional.linear(small, weight))


def test_rows_linear_keeps_the_graph_where_one_is_needed():
    weight = torch.randn(8, 16, requires_grad=True)
    rows = torch.randn(4, 1024, 16)
    out = jet.rows_linear(rows, weight)
    (g,) = torch.autograd.grad(out.sum(), weight)
    torch.testing.assert_close(g, rows.sum((0, 1)).expand(8, 16), rtol=1e-4, atol=1e-3)


def test_large_forward_jacobian_through_onednn_agrees_with_torch_func():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(40, 64), torch.nn.ELU(), torch.nn.Linear(64, 64), torch.nn.ELU(),
                                torch.nn.Linear(64, 50)).requires_grad_(False)
    x = torch.randn(64, 40)  # 40 tangents × 64 samples = 2560 rows ≥ ONEDNN_ROWS
    ref = torch.func.vmap(torch.func.jacfwd(lambda v: model(v[None])[0]))(x)
    torch.testing.assert_close(hp.jacobian(model, x, method="analytic-forward"), ref, rtol=1e-4, atol=1e-5)
