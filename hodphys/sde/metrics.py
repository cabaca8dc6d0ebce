"""Distances between two sample sets x (n, d) and y (m, d): MMD and the 2-Wasserstein distance.

MMD: Gaussian kernel k(x, y) = exp(−‖x − y‖² / (2h²)); biased (V-statistic) estimate
MMD² = mean k(x, x′) + mean k(y, y′) − 2 mean k(x, y), which is ≥ 0, so ratios of two MMDs are
meaningful. Bandwidth rule: h = the median pairwise distance of the pooled sample (median
heuristic) unless given; pass the same h to MMDs that are compared with each other.

W2: exact optimal transport with uniform weights and squared Euclidean cost (POT's network
simplex, ``ot.emd2``), W2 = sqrt(min_π Σ π_ij ‖x_i − y_j‖²).
"""
from __future__ import annotations

import ot
import torch
from torch import Tensor


def _check(call: str, x: Tensor, y: Tensor) -> None:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(len(x), len(y)) < 2:
        raise ValueError(f"{call}: expected two sample sets (n, d) and (m, d) with n, m ≥ 2, "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")


def median_bandwidth(x: Tensor, y: Tensor) -> float:
    """h = median of the pairwise distances ‖z_i − z_j‖, i < j, of the pooled sample z = (x, y)."""
    _check("median_bandwidth", x, y)
    z = torch.cat([x.double(), y.to(x.device, torch.float64)])
    distances = torch.pdist(z)
    return float(torch.quantile(distances, 0.5))


def mmd(x: Tensor, y: Tensor, bandwidth: float | None = None) -> float:
    """sqrt of the biased MMD² with the Gaussian kernel of bandwidth h (median heuristic when None)."""
    _check("mmd", x, y)
    h = median_bandwidth(x, y) if bandwidth is None else float(bandwidth)
    if not h > 0:
        raise ValueError(f"mmd: expected a positive bandwidth, got {h}")
    x, y = x.double(), y.to(x.device, torch.float64)  # on x's device, wherever y was

    def mean_kernel(a: Tensor, b: Tensor) -> Tensor:
        return torch.exp(-torch.cdist(a, b).square() / (2 * h * h)).mean()

    squared = mean_kernel(x, x) + mean_kernel(y, y) - 2 * mean_kernel(x, y)
    return float(squared.clamp_min(0).sqrt())


def wasserstein2(x: Tensor, y: Tensor) -> float:
    """Exact W2 between the empirical measures of x and y (POT ``ot.emd2``, squared Euclidean cost)."""
    _check("wasserstein2", x, y)
    x, y = x.double().cpu().numpy(), y.double().cpu().numpy()
    cost = ot.dist(x, y, metric="sqeuclidean")
    weights_x, weights_y = ot.unif(len(x)), ot.unif(len(y))
    return float(ot.emd2(weights_x, weights_y, cost, numItermax=1_000_000)) ** 0.5
