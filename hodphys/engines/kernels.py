"""Which GEMM kernel multiplies an engine's derivative rows by a weight (float32, CPU).

torch's CPU SGEMM is MKL, which on AMD CPUs runs its AVX2 code path; NumPy's OpenBLAS and
oneDNN run AVX-512 kernels. Measured on one core of this AVX-512 AMD EPYC (GFLOP/s, CPU clock):

| rows × w × w_out | torch (MKL) | oneDNN | NumPy (OpenBLAS) |
|---|---|---|---|
| 6144 × 100 × 100 | 62 | 68 | 82 |
| 10752 × 128 × 128 | 64 | 86 | 83 |
| 3216 × 200 × 200 | 80 | 85 | 88 |
| 41 × 200 × 200 | 73 | 59 | 81 |

:func:`rows_linear` takes OpenBLAS where the values may leave torch (:func:`hodphys.scalars.plain_values`)
and it runs on as many threads as torch, else oneDNN where no autograd graph or transform needs
the op (:func:`hodphys.scalars.graph_free`: a replay's recording sees that op like any other),
OpenBLAS from :data:`BIG_ROWS` rows, oneDNN from :data:`ONEDNN_ROWS` rows and :data:`ONEDNN_WORK`
multiply-adds (below, their per-call setup costs more than they save; there oneDNN is 0–15 %
faster than MKL in a chain of seven w = 200 layers: 1.02–1.10× at 640 rows, 1.05× at 860,
1.05–1.16× at 1536; 1.05× for one 1520 × 64 × 64, but 0.39–0.9× on GEMMs of 600–1520 rows of
width 16–64 under 2²⁴ multiply-adds); torch's linear everywhere else. Results agree to float32 rounding (tested).
"""
from __future__ import annotations

from functools import cache

import numpy as np
import torch
from torch import Tensor

from hodphys.scalars import graph_free, plain_values

BIG_ROWS = 2048  # rows (all leading axes together) from which a GEMM may take OpenBLAS
ONEDNN_ROWS = 512  # from these rows and ONEDNN_WORK multiply-adds a graph-free GEMM takes oneDNN
ONEDNN_WORK = 1 << 24  # below BIG_ROWS (oneDNN's setup outweighs it on small GEMMs: 0.4× at 600 × 16 × 16)
_onednn_linear = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)


@cache
def _openblas():
    """NumPy's OpenBLAS thread control (threadpoolctl), or None where NumPy uses another BLAS."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return None
    found = ThreadpoolController().select(internal_api="openblas").lib_controllers
    mine = [lib for lib in found if "numpy" in (lib.filepath or "")]
    return mine[0] if mine else None


def openblas_matches_torch() -> bool:
    """Whether NumPy's OpenBLAS runs on as many threads as torch (so choosing it changes no parallelism)."""
    blas = _openblas()
    return blas is not None and blas.get_num_threads() == torch.get_num_threads()


def _big_enough(rows: Tensor, weight: Tensor) -> bool:
    """Whether rows (…, w) @ Wᵀ is large enough for another kernel than MKL to pay (module doc)."""
    entries, w = rows.numel(), rows.shape[-1]
    return entries >= ONEDNN_ROWS * w and (entries >= BIG_ROWS * w or entries * weight.shape[0] >= ONEDNN_WORK)


def takes_onednn(rows: Tensor, weight: Tensor) -> bool:
    """Whether a float32 CPU GEMM rows (…, w) @ Wᵀ of these shapes goes to oneDNN (when no graph or
    transform needs it, and NumPy's OpenBLAS is not taken): oneDNN is here and the GEMM is big enough."""
    return (rows.dtype == weight.dtype == torch.float32 and weight.device.type == "cpu" and _big_enough(rows, weight)
            and _onednn_linear is not None and torch.backends.mkldnn.is_available())


def onednn_linear():
    """oneDNN's linear, ``(rows, W, b, "none", [], "") → rows @ Wᵀ + b`` (``mkldnn._linear_pointwise``)."""
    return _onednn_linear.default


def rows_linear(rows: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """rows (…, w) @ Wᵀ + b for W (w_out, w), by the fastest kernel allowed here (module doc)."""
    w = rows.shape[-1]
    if (rows.dtype != torch.float32 or weight.requires_grad or (bias is not None and bias.requires_grad)
            or not _big_enough(rows, weight)):
        return torch.nn.functional.linear(rows, weight, bias)
    if rows.numel() >= BIG_ROWS * w and plain_values(rows) and weight.device.type == "cpu" and openblas_matches_torch():
        out = np.matmul(rows.reshape(-1, w).numpy(), weight.detach().numpy().T)
        out = torch.from_numpy(out).view(*rows.shape[:-1], weight.shape[0])
        return out if bias is None else out.add_(bias)
    if graph_free(rows) and takes_onednn(rows, weight):
        return _onednn_linear(rows, weight, bias, "none", [], "")
    return torch.nn.functional.linear(rows, weight, bias)
