"""torchsde sampling against the OU closed form; MMD and W2 against exact values."""
from __future__ import annotations

import math

import pytest
import torch

import hodphys.sde as sde
from hodphys.nn import HollowNet


@pytest.mark.parametrize("method, dt", [("euler", 2e-3), ("srk", 1e-2)])
def test_ou_mean_and_covariance_within_sampling_error(method, dt):
    ou = sde.OrnsteinUhlenbeck([1.0, 0.5], [0.8, 0.4], [1.5, -1.0], [0.2, 0.1])
    n = 4000
    x0 = ou.sample(0.0, n, torch.Generator().manual_seed(1))
    paths = sde.sample_paths(ou.drift, ou.diffusion, x0, [0.0, 0.5, 1.0], method=method, dt=dt, seed=2)
    assert paths.shape == (3, n, 2)
    for k, t in enumerate([0.5, 1.0]):
        x = paths[k + 1]
        tt = torch.tensor([t], dtype=torch.float64)
        mean, var = ou.mean(tt)[0], ou.variance(tt)[0]
        # 4 standard errors: of the mean sqrt(v/n), of the variance v·sqrt(2/n), of the covariance sqrt(v1 v2 / n)
        assert ((x.mean(0) - mean).abs() <= 4 * (var / n).sqrt()).all()
        assert ((x.var(0) - var).abs() <= 4 * var * math.sqrt(2 / n)).all()
        covariance = torch.cov(x.T)[0, 1]
        assert abs(float(covariance)) <= 4 * float((var[0] * var[1] / n).sqrt())


def test_sampling_learned_modules_is_seeded_and_batched():
    torch.manual_seed(0)
    drift, diffusion = HollowNet(3, time=True).double(), sde.DiagonalDiffusion(HollowNet(3)).double()
    x0 = torch.randn(16, 3, dtype=torch.float64)
    a = sde.sample_paths(drift, diffusion, x0, [0.0, 0.3], method="srk", dt=0.05, seed=5)
    b = sde.sample_paths(drift, diffusion, x0, [0.0, 0.3], method="srk", dt=0.05, seed=5)
    c = sde.sample_paths(drift, diffusion, x0, [0.0, 0.3], method="srk", dt=0.05, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c) and not a.requires_grad
    assert torch.equal(a[0], x0)


def test_sampling_bad_input():
    ou = sde.OrnsteinUhlenbeck(1.0, 1.0, 0.0, 1.0)
    x0 = torch.zeros(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="expected at least two increasing times"):
        sde.sample_paths(ou.drift, ou.diffusion, x0, [0.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="expected method in"):
        sde.sample_paths(ou.drift, ou.diffusion, x0, [0.0, 1.0], method="heun")
    with pytest.raises(ValueError, match=r"expected x0 of shape \(N, d\)"):
        sde.sample_paths(ou.drift, ou.diffusion, x0[0], [0.0, 1.0])
    with pytest.raises(ValueError, match="expected a positive step dt"):
        sde.sample_paths(ou.drift, ou.diffusion, x0, [0.0, 1.0], dt=0.0)


def test_w2_of_a_translation_is_its_length():
    x = torch.randn(200, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    shift = torch.tensor([0.3, -0.4, 1.2], dtype=torch.float64)
    assert sde.wasserstein2(x, x + shift) == pytest.approx(float(shift.norm()), rel=1e-9)
    assert sde.wasserstein2(x, x) == pytest.approx(0.0, abs=1e-7)  # sqrt of a rounding-level cost


def test_w2_of_two_points_sets_by_hand():
    x = torch.tensor([[0.0], [1.0]])
    y = torch.tensor([[2.0], [0.5]])  # optimal: 0 → 0.5, 1 → 2: cost (0.25 + 1)/2
    assert sde.wasserstein2(x, y) == pytest.approx(math.sqrt(0.625), rel=1e-12)


def test_mmd_by_hand_and_properties():
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    y = torch.tensor([[3.0], [1.0]], dtype=torch.float64)
    h = 1.5
    k = lambda a, b: math.exp(-((a - b) ** 2) / (2 * h * h))
    xx = sum(k(a, b) for a in (0, 1) for b in (0, 1)) / 4
    yy = sum(k(a, b) for a in (3, 1) for b in (3, 1)) / 4
    xy = sum(k(a, b) for a in (0, 1) for b in (3, 1)) / 4
    assert sde.mmd(x, y, bandwidth=h) == pytest.approx(math.sqrt(xx + yy - 2 * xy), rel=1e-12)
    assert sde.median_bandwidth(x, y) == pytest.approx(1.5)  # distances 0, 1, 1, 2, 2, 3
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 2, generator=g), torch.randn(300, 2, generator=g)
    assert sde.mmd(a, a) == 0.0
    assert sde.mmd(a, b) < sde.mmd(a, b + 0.5) < sde.mmd(a, b + 1.0)


def test_metrics_bad_input():
    with pytest.raises(ValueError, match=r"mmd: expected two sample sets \(n, d\) and \(m, d\)"):
        sde.mmd(torch.zeros(5, 2), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="wasserstein2: expected two sample sets"):
        sde.wasserstein2(torch.zeros(5, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="median_bandwidth: expected two sample sets"):
        sde.median_bandwidth(torch.zeros(5), torch.zeros(5))
    with pytest.raises(ValueError, match="expected a positive bandwidth"):
        sde.mmd(torch.zeros(5, 2), torch.zeros(5, 2))
