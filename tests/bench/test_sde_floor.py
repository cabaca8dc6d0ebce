"""The weak-form floor study: its least-squares design is the library's residual, and it runs."""
from __future__ import annotations

import math

import pytest
import torch

from hodphys.bench.studies.sde_floor import bases, design, floor, monomials
from hodphys.sde.weak_form import pairwise_residual


def test_pairs_design_is_the_weak_residual_of_a_linear_family():
    generator = torch.Generator().manual_seed(0)
    times = torch.tensor([0.0, 0.2, 0.5, 0.6], dtype=torch.float64)
    means = torch.rand(4, 5, generator=generator, dtype=torch.float64)
    basis = torch.randn(4, 5, 3, generator=generator, dtype=torch.float64)  # E_k[Lφ_m] per coefficient
    theta = torch.randn(3, generator=generator, dtype=torch.float64)
    A, b = design(times, means, basis, "pairs")
    assert torch.allclose(b - A @ theta, pairwise_residual(times, means, basis @ theta).flatten(), rtol=1e-12)
    A, b = design(times, means, basis, "steps")
    steps = (times[1:] - times[:-1]).unsqueeze(-1)
    expected = (means[1:] - means[:-1]) / steps - 0.5 * (basis[1:] + basis[:-1]) @ theta
    assert torch.allclose(b - A @ theta, expected.flatten(), rtol=1e-12)


def test_floor_runs_and_rejects_unknown_estimators():
    result = floor(dim=2, n=100, tests=50, step=0.5, final=1.0)
    assert set(result) == {"drift_rel_l2", "diffusion_rel_l2", "drift_rel_l2_by_time", "diffusion_rel_l2_by_time"}
    assert math.isfinite(result["drift_rel_l2"]) and math.isfinite(result["diffusion_rel_l2"])
    assert len(result["drift_rel_l2_by_time"]) == 2  # the observed times after 0: 0.5 and 1.0
    with pytest.raises(ValueError, match="expected estimator in"):
        floor(estimator="finite-difference")
    weighted = floor(dim=2, n=100, tests=50, step=0.5, final=1.0, weights="inverse-variance")
    assert math.isfinite(weighted["drift_rel_l2"]) and weighted["drift_rel_l2"] != result["drift_rel_l2"]
    with pytest.raises(ValueError, match="weights only with 'pairs'"):
        floor(estimator="steps", weights="inverse-variance")


def test_monomials_are_every_product_up_to_the_degree():
    x = torch.tensor([[2.0, 3.0, 5.0]], dtype=torch.float64)
    basis = monomials(x, 2)  # 1, x1, x2, x3, x1², x1x2, x1x3, x2², x2x3, x3²: C(3 + 2, 2) = 10
    expected = torch.tensor([1, 2, 3, 5, 4, 6, 10, 9, 15, 25], dtype=torch.float64)
    assert basis.shape == (1, 3, 10) and all(torch.equal(basis[0, i], expected) for i in range(3))


def test_polynomial_family_reaches_the_true_drift_and_is_checked():
    from hodphys.sde.processes import DoubleWell

    drift_family, _ = bases("polynomial", drift_degree=3, diffusion_degree=1)
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    columns = drift_family(x)[:, 0]  # f_1's family: the true f_1 = −4x₁(x₁² − 1) − x₂ lies in it exactly
    target = DoubleWell(2).drift(x)[:, 0]
    fit = torch.linalg.lstsq(columns, target.unsqueeze(-1)).solution
    assert torch.allclose(columns @ fit[:, 0], target, atol=1e-10)
    result = floor(dim=2, n=100, tests=50, step=0.5, final=1.0, family="polynomial", drift_degree=3,
                   diffusion_degree=1)
    assert math.isfinite(result["drift_rel_l2"]) and math.isfinite(result["diffusion_rel_l2"])
    with pytest.raises(ValueError, match="expected family in"):
        bases("splines")
    with pytest.raises(ValueError, match="degrees ≥ 0"):
        bases("polynomial", drift_degree=-1)


def test_known_diffusion_fits_the_drift_alone():
    """known_diffusion: a is the true g², so g's error is exactly 0 and only f is fitted."""
    joint = floor(dim=2, n=200, tests=80, step=0.5, final=1.0)
    known = floor(dim=2, n=200, tests=80, step=0.5, final=1.0, known_diffusion=True)
    assert known["diffusion_rel_l2"] == 0.0
    assert math.isfinite(known["drift_rel_l2"]) and known["drift_rel_l2"] != joint["drift_rel_l2"]
