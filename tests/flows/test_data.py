"""The toy densities and the digits: seeded, of the right shape, and shaped like their definitions."""
from __future__ import annotations

import math
import sys

import pytest
import torch

from hodphys.flows import DATASETS, TOY_DATASETS, flow_dataset, toy_data


def _draw(name: str, n: int = 4000, seed: int = 0) -> torch.Tensor:
    return toy_data(name, n, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", list(TOY_DATASETS))
def test_toys_are_seeded_2d_and_bounded(name):
    x = _draw(name)
    assert x.shape == (4000, 2) and x.dtype == torch.float64
    assert torch.equal(x, _draw(name)) and not torch.equal(x, _draw(name, seed=1))
    assert x.abs().max() < 6 and x.std(0).min() > 0.5


def test_eight_gaussians_cluster_at_their_centres():
    x = _draw("8gaussians")
    angles = torch.arange(8, dtype=torch.float64) * math.pi / 4
    centres = 4 / math.sqrt(2) * torch.stack([angles.cos(), angles.sin()], -1)
    nearest = torch.cdist(x, centres).min(-1).values
    assert abs(float(nearest.square().mean()) - 2 * 0.5**2 / 2) < 0.02  # E|ε|² of N(0, (0.5/√2)² I)


def test_checkerboard_lies_on_the_black_squares_only():
    x = _draw("checkerboard") / 2
    squares = torch.floor(x).long()
    assert ((squares[:, 0] + squares[:, 1]) % 2 == 0).all()
    assert x.min() >= -2 and x.max() <= 2


def test_circles_have_two_radii():
    radius = _draw("circles").norm(dim=-1) / 3
    assert ((radius - 1).abs() < 0.35).float().mean() > 0.45 and ((radius - 0.5).abs() < 0.3).float().mean() > 0.45


def test_pinwheel_has_five_arms():
    angle = torch.atan2(*_draw("pinwheel").flip(-1).T)
    counts = torch.histc(angle, bins=40, min=-math.pi, max=math.pi)
    peaks = ((counts > counts.roll(1)) & (counts >= counts.roll(-1)) & (counts > counts.mean())).sum()
    assert peaks == 5


def test_flow_dataset_of_a_toy_has_fixed_validation_and_test_sets():
    data = flow_dataset("moons", seed=3, n_validation=100, n_test=200)
    again = flow_dataset("moons", seed=3, n_validation=100, n_test=200)
    assert data.d == 2 and data.validation.shape == (100, 2) and data.test.shape == (200, 2)
    assert torch.equal(data.test, again.test) and data.log_det == 0.0
    assert data.train_batch(torch.Generator().manual_seed(0), 8).shape == (8, 2)


def test_digits_are_dequantised_standardised_and_split():
    pytest.importorskip("sklearn")
    data = flow_dataset("digits", seed=0)
    train = data.train_batch(torch.Generator().manual_seed(0), 1257)
    assert data.d == 64 and data.validation.shape == (269, 64) and data.test.shape == (271, 64)
    assert 1257 + 269 + 271 == 1797
    assert train.mean(0).abs().max() < 0.2 and (train.std(0) - 1).abs().max() < 0.2
    # x in [0, 1) has per-pixel spread σ ≤ 1/2, so log_det = −Σ log σ ≥ 64 log 2
    assert math.isfinite(data.log_det) and data.log_det >= 64 * math.log(2)
    assert data.validation.unique(dim=0).shape[0] == 269  # dequantised: no two rows alike
    assert not torch.equal(train, data.train_batch(torch.Generator().manual_seed(1), 1257))


def test_digits_without_scikit_learn_say_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"needs scikit-learn .* pip install 'hodphys\[flows\]'"):
        flow_dataset("digits")


def test_unknown_dataset_and_bad_sizes():
    assert "digits" in DATASETS
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; expected one of"):
        flow_dataset("mnist")
    with pytest.raises(ValueError, match="toy_data: unknown dataset 'spiral'"):
        toy_data("spiral", 10)
    with pytest.raises(ValueError, match="expected n to be an integer ≥ 1, got 0"):
        toy_data("moons", 0)
