"""GEMM kernel choice for derivative rows: OpenBLAS or oneDNN for many graph-free float32 rows."""
import pytest
import torch

import hodphys as hp
from threadpoolctl import threadpool_limits

from hodphys.engines import kernels


@pytest.mark.parametrize("blas_threads", [1, 2])  # NumPy's OpenBLAS when its threads match torch's, else oneDNN
def test_rows_linear_matches_torch_linear_on_every_path(blas_threads):
    g = torch.Generator().manual_seed(0)
    rows, weight = torch.randn(9, 300, 64, generator=g), torch.randn(48, 64, generator=g)
    bias = torch.randn(48, generator=g)
    assert rows.numel() >= kernels.BIG_ROWS * 64
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(blas_threads, user_api="blas"):
            assert kernels.openblas_matches_torch() == (blas_threads == 1)
            out = kernels.rows_linear(rows, weight)
            biased = kernels.rows_linear(rows, weight, bias)
    finally:
        torch.set_num_threads(threads)
    assert out.shape == (9, 300, 48)
    torch.testing.assert_close(out, torch.nn.functional.linear(rows, weight), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(biased, torch.nn.functional.linear(rows, weight, bias), rtol=1e-5, atol=1e-5)
    small = rows[:1, :10]
    assert torch.equal(kernels.rows_linear(small, weight), torch.nn.functional.linear(small, weight))


def test_rows_linear_keeps_the_graph_where_one_is_needed():
    weight = torch.randn(8, 16, requires_grad=True)
    rows = torch.randn(4, 1024, 16)
    out = kernels.rows_linear(rows, weight)
    (g,) = torch.autograd.grad(out.sum(), weight)
    torch.testing.assert_close(g, rows.sum((0, 1)).expand(8, 16), rtol=1e-4, atol=1e-3)


def test_large_forward_jacobian_through_onednn_agrees_with_torch_func():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(40, 64), torch.nn.ELU(), torch.nn.Linear(64, 64), torch.nn.ELU(),
                                torch.nn.Linear(64, 50)).requires_grad_(False)
    x = torch.randn(64, 40)  # 40 tangents × 64 samples = 2560 rows ≥ ONEDNN_ROWS
    ref = torch.func.vmap(torch.func.jacfwd(lambda v: model(v[None])[0]))(x)
    torch.testing.assert_close(hp.jacobian(model, x, method="analytic-forward"), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("block_work", [1, 1 << 40])  # σ″ block by block over the upper pairs, or gathered
@pytest.mark.parametrize("make", [
    lambda: torch.nn.Sequential(torch.nn.Linear(9, 16), torch.nn.ELU(), torch.nn.Linear(16, 16), torch.nn.Tanh(),
                                torch.nn.Linear(16, 3)),
    lambda: hp.nn.ResNet(7, 12, 2, 2, activation=torch.nn.Softplus(), step=0.5),
])
def test_forward_hessian_over_upper_blocks_matches_torch_func(monkeypatch, block_work, make):
    from hodphys.engines.analytic import jet
    monkeypatch.setattr(jet, "BLOCK_WORK", block_work)
    torch.manual_seed(0)
    model = make().double().requires_grad_(False)
    x = torch.randn(5, model[0].in_features if isinstance(model[0], torch.nn.Linear) else 7, dtype=torch.float64)
    ref = torch.func.vmap(torch.func.hessian(lambda v: model(v[None])[0]))(x)
    for _ in range(3):  # the third call replays the recording
        h = hp.hessian(model, x, method="analytic-forward")
        assert (h - ref).norm() / ref.norm() <= 1e-12


@pytest.mark.parametrize("m", [1, 3])
def test_backward_hessian_accumulating_sites_in_place_matches_torch_func(monkeypatch, m):
    from hodphys.engines.analytic import sweep
    monkeypatch.setattr(sweep, "STACK_BYTES", 0)  # every site contracted on its own: baddbmm_ into the total
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.ELU(), torch.nn.Linear(10, 10), torch.nn.Tanh(),
                                torch.nn.Linear(10, 10), torch.nn.Sigmoid(), torch.nn.Linear(10, m)).double()
    x = torch.randn(4, 6, dtype=torch.float64)
    ref = torch.func.vmap(torch.func.hessian(lambda v: model(v[None])[0]))(x)
    for trainable in (False, True):  # with a graph the sum is formed out of place
        model.requires_grad_(trainable)
        h = hp.hessian(model, x, method="analytic-backward")
        assert (h - ref.detach()).norm() / ref.norm() <= 1e-12
        assert h.requires_grad == trainable


@pytest.mark.parametrize("block_work", [1, 1 << 40])  # Σ_p t_p² accumulated in place, or as one product and sum
def test_forward_laplacian_sum_of_squares_matches_torch_func_and_trains(monkeypatch, block_work):
    from hodphys.engines.analytic import jet
    monkeypatch.setattr(jet, "BLOCK_WORK", block_work)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.ELU(),
                                torch.nn.Linear(8, 2)).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    hessian = torch.func.vmap(torch.func.hessian(lambda v: model(v[None])[0]))(x)
    ref = hessian.diagonal(dim1=-2, dim2=-1).sum(-1)
    for _ in range(3):  # the third call replays the recording
        lap = hp.laplacian(model, x, method="analytic-forward")
        assert (lap - ref).norm() / ref.norm() <= 1e-12
    ours = torch.autograd.grad(lap.square().sum(), model[0].weight)[0]
    theirs = torch.autograd.grad(ref.square().sum(), model[0].weight)[0]
    assert (ours - theirs).norm() / theirs.norm() <= 1e-10


@pytest.mark.parametrize("device,expected", [("cpu", True), ("meta", False)])  # meta stands in for a GPU
def test_per_tangent_ops_only_on_the_cpu(device, expected):
    from hodphys.engines.analytic import jet
    p, w = 200, 200  # the 200 → 200 Hessian at batch 1: p · w ≥ 2 · BLOCK_WORK
    value, rows = torch.zeros(1, w, device=device), torch.zeros(p, 1, w, device=device)
    state = jet.Jet(value, rows, p, jet.Upper(p, torch.device(device)), scratch=True)
    assert state._blockwise() is expected
    squares = torch.zeros(2, 1, jet.BLOCK_WORK, device=device)
    assert jet._per_tangent_ops(squares) is expected and jet._sum_of_squares(squares).shape == (1, 1, jet.BLOCK_WORK)


@pytest.mark.parametrize("rows, width, onednn", [(640, 200, True), (600, 16, False), (300, 200, False)])
def test_mid_size_rows_take_onednn_only_with_enough_work(monkeypatch, rows, width, onednn):
    calls = []
    real = kernels._onednn_linear
    if real is None or not torch.backends.mkldnn.is_available():
        pytest.skip("needs torch's oneDNN")
    monkeypatch.setattr(kernels, "_onednn_linear", lambda *args: calls.append(args) or real(*args))
    g = torch.Generator().manual_seed(0)
    x, weight = torch.randn(rows, width, generator=g), torch.randn(width, width, generator=g)
    assert rows < kernels.BIG_ROWS
    out = kernels.rows_linear(x, weight)
    assert bool(calls) == onednn
    torch.testing.assert_close(out, torch.nn.functional.linear(x, weight), rtol=1e-5, atol=1e-4)
