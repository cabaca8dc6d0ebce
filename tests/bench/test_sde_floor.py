"""The weak-form floor study: its least-squares design is the library's residual, and it runs."""
from __future__ import annotations

import math

import pytest
import torch

from hodphys.bench.studies.sde_floor import design, floor
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
    assert set(result) == {"drift_rel_l2", "diffusion_rel_l2"} and all(math.isfinite(v) for v in result.values())
    with pytest.raises(ValueError, match="expected estimator in"):
        floor(estimator="finite-difference")
