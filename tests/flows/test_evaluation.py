"""Evaluating a CNF: chunked log-likelihoods, the grid density and its mass, derived flows."""
from __future__ import annotations

import pytest
import torch

from hodphys.flows import CNF, ODEOptions
from hodphys.flows.evaluation import grid_density, log_likelihood
from tests.flows.models import LinearDynamics, points, small_hollow


def test_chunks_do_not_change_the_log_likelihood():
    flow = CNF(small_hollow(2), ode=ODEOptions(method="rk4", steps=3))  # adaptive steps would follow the chunk
    x = points(50, 2)
    whole, parts = log_likelihood(flow, x, chunk=64), log_likelihood(flow, x, chunk=7)
    assert torch.allclose(whole.log_prob, parts.log_prob, rtol=0, atol=1e-12) and whole.nfe == 12
    assert not whole.log_prob.requires_grad


def test_the_density_of_a_gaussian_flow_integrates_to_one_on_the_grid():
    A = torch.tensor([[-0.4, 0.3], [-0.2, 0.1]], dtype=torch.float64)  # expands the base: wider than N(0, I)
    flow = CNF(LinearDynamics(A), ode=ODEOptions(atol=1e-8, rtol=1e-8))
    grid = grid_density(flow, extent=8.0, size=120)
    assert grid.density.shape == grid.grid_x.shape == (120, 120)
    assert abs(grid.mass - 1) < 1e-4
    assert abs(float(grid.grid_x[0, 1] - grid.grid_x[0, 0]) - 16 / 120) < 1e-12  # x along columns


def test_grid_density_needs_two_dimensions():
    with pytest.raises(ValueError, match="needs a 2-D flow, this one has d=3"):
        grid_density(CNF(small_hollow(3)), 4.0, 10)


def test_with_options_shares_the_dynamics():
    flow = CNF(small_hollow(2), trace="hutchinson", kinetic=0.1)
    exact = flow.with_options(trace="exact", ode=ODEOptions(method="rk4", steps=2))
    assert exact.dynamics is flow.dynamics and exact.kinetic == 0.1 and exact.trace == "exact"
    assert list(exact.state_dict()) == list(flow.state_dict())
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['solver'\]"):
        flow.with_options(solver="rk4")
