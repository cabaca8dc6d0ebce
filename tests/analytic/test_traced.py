"""The GEMM rewrite of a traced plan (hodphys.engines.traced): oneDNN where eager takes it, Wᵀ laid out once."""
import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from hodphys.engines import kernels
from hodphys.engines.traced import frozen_gemms


def two_layers(dtype):
    g = torch.Generator().manual_seed(0)
    w1, b1, w2 = (torch.randn(*s, generator=g, dtype=dtype) / 8 for s in ((128, 128), (128,), (128, 128)))
    return lambda x: torch.nn.functional.linear(torch.nn.functional.linear(x, w1, b1).tanh(), w2)


def ops(graph):
    return [node.target for node in graph.graph.nodes if node.op == "call_function"]


@pytest.mark.parametrize("rows,dtype,onednn", [(1024, torch.float32, 2), (40, torch.float32, 0),
                                               (1024, torch.float64, 0)])
def test_weights_gemms_take_onednn_where_eager_would_and_a_laid_out_transpose_elsewhere(rows, dtype, onednn):
    if kernels._onednn_linear is None or not torch.backends.mkldnn.is_available():
        pytest.skip("needs torch's oneDNN")
    f = two_layers(dtype)
    x = torch.randn(rows, 128, generator=torch.Generator().manual_seed(1), dtype=dtype)
    graph = make_fx(f, tracing_mode="fake", _allow_non_fake_inputs=True)(x)
    assert torch.ops.aten.t.default in ops(graph)
    rewritten = frozen_gemms(graph)
    targets = ops(rewritten)
    assert torch.ops.aten.t.default not in targets
    assert targets.count(kernels.onednn_linear()) == onednn
    transposed = [b for name, b in rewritten.named_buffers() if name.endswith("_transposed")]
    assert len(transposed) == 2 - onednn and all(b.is_contiguous() for b in transposed)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(rewritten(x), f(x), rtol=tolerance, atol=tolerance)


def test_a_graph_without_constant_weights_is_left_alone():
    graph = make_fx(lambda x, w: x @ w.t(), tracing_mode="fake")(torch.randn(1024, 128), torch.randn(128, 128))
    before = ops(graph)
    assert ops(frozen_gemms(graph)) == before


def test_a_weight_read_by_single_row_gemms_only_stays_one_tensor():
    """GEMVs keep t(W) (no Wᵀ copy: a reverse sweep reading W finds it in cache); a weight that a
    multi-row GEMM reads too gets one contiguous Wᵀ for both."""
    g = torch.Generator().manual_seed(0)
    w1, b1, w2 = (torch.randn(*s, generator=g) / 8 for s in ((16, 12), (16,), (16, 16)))

    def f(x, rows):
        value = torch.nn.functional.linear(torch.nn.functional.linear(x, w1, b1).tanh(), w2)
        return value, rows @ w2, torch.nn.functional.linear(rows, w2)  # w2 also read as is and by rows

    x, rows = torch.randn(1, 12, generator=g), torch.randn(5, 16, generator=g)
    rewritten = frozen_gemms(make_fx(f, tracing_mode="fake", _allow_non_fake_inputs=True)(x, rows))
    transposed = [b for name, b in rewritten.named_buffers() if name.endswith("_transposed")]
    assert [b.shape for b in transposed] == [(16, 16)]  # w2's, for its 5-row GEMM and its GEMV
    assert ops(rewritten).count(torch.ops.aten.t.default) == 1  # w1's GEMV reads its view
    for got, expected in zip(rewritten(x, rows), f(x, rows)):
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
