"""The weak-form Fokker–Planck residual: test-function derivatives, the identity d/dt E[φ] = E[Lφ] on OU,
recovery of a known drift and diffusion from snapshots, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import hodphys.sde as sde
from hodphys.sde.inverse import InverseConfig, InverseFokkerPlanck
from hodphys.sde.weak_form import GaussianTests, draw_tests, gaussian_terms, weak_residual


def _tests(d=2, m=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return GaussianTests(torch.randn(m, d, generator=generator, dtype=torch.float64),
                         0.3 + torch.rand(m, generator=generator, dtype=torch.float64))


def test_gaussian_terms_match_torch_func():
    tests = _tests(d=3)
    x = torch.randn(7, 3, dtype=torch.float64)
    phi, gradient, hessian_diagonal = gaussian_terms(tests, x)

    def one(j):
        return lambda z: torch.exp(-0.5 * ((z - tests.centres[j]) ** 2).sum() / tests.widths[j] ** 2)

    for j in range(len(tests.widths)):
        for n in range(len(x)):
            assert torch.allclose(phi[n, j], one(j)(x[n]), rtol=1e-12, atol=0)
            assert torch.allclose(gradient[n, j], torch.func.grad(one(j))(x[n]), rtol=1e-10, atol=1e-14)
            hessian = torch.func.hessian(one(j))(x[n])
            assert torch.allclose(hessian_diagonal[n, j], torch.diagonal(hessian), rtol=1e-10, atol=1e-14)


def _gaussian_expectation(tests: GaussianTests, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """E[φ_j] under N(mean, diag variance), closed form: Π_i w/√(w² + v_i) exp(−(m_i − c_i)² / 2(w² + v_i))."""
    s2 = tests.widths[:, None] ** 2 + variance
    return (tests.widths[:, None] / s2.sqrt() * torch.exp(-0.5 * (mean - tests.centres) ** 2 / s2)).prod(-1)


def test_generator_expectation_is_the_rate_of_the_test_function_mean_on_ou():
    """d/dt E_{p_t}[φ] = E_{p_t}[Lφ]: closed-form E[φ] differentiated in t vs Gauss–Hermite E[Lφ] (float64)."""
    ou = sde.OrnsteinUhlenbeck([1.0, 0.5], [0.8, 0.6], [1.5, -1.0], [0.2, 0.3])
    tests = _tests()
    nodes, weights = (torch.as_tensor(v) for v in np.polynomial.hermite_e.hermegauss(30))
    grid = torch.stack(torch.meshgrid(nodes, nodes, indexing="ij"), -1).reshape(-1, 2)
    grid_weights = (weights[:, None] * weights[None, :]).reshape(-1) / (2 * np.pi)
    for t in (0.1, 0.7, 1.3):
        tt = torch.tensor([t], dtype=torch.float64)
        x = ou.mean(tt) + ou.variance(tt).sqrt() * grid  # quadrature nodes of p_t
        _, gradient, hessian_diagonal = gaussian_terms(tests, x)
        f, a = ou.drift(x), ou.diffusion(x) ** 2
        generator = (f[:, None] * gradient).sum(-1) + 0.5 * (a[:, None] * hessian_diagonal).sum(-1)
        rate = torch.func.jacfwd(lambda s: _gaussian_expectation(tests, ou.mean(s)[0], ou.variance(s)[0]))(tt)[:, 0]
        assert torch.allclose(grid_weights @ generator, rate, rtol=1e-9, atol=1e-12)


class _LinearDrift(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.theta = nn.Parameter(torch.full((d,), 0.1, dtype=torch.float64))

    def forward(self, x):
        return -self.theta * x


class _ConstantDiffusion(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.log_sigma = nn.Parameter(torch.full((d,), -2.0, dtype=torch.float64))

    def forward(self, x):
        return self.log_sigma.exp() + 0 * x


def test_weak_residual_recovers_ou_drift_and_diffusion_from_snapshots():
    """Identifiable case: OU snapshots (exact samples, no trajectories), a linear drift and constant noise fitted
    by the weak residual alone recover θ and σ to 15 %; starting from σ ≈ 0.14 σ_true, the noise does not collapse."""
    ou = sde.OrnsteinUhlenbeck([1.0, 0.5], [0.8, 0.6], [1.5, -1.0], [0.2, 0.3])
    generator = torch.Generator().manual_seed(0)
    times = torch.linspace(0, 1.5, 7, dtype=torch.float64)
    samples = [ou.sample(float(t), 1500, generator) for t in times]
    drift, diffusion = _LinearDrift(2), _ConstantDiffusion(2)
    optimizer = torch.optim.Adam([*drift.parameters(), *diffusion.parameters()], 5e-2)
    pooled = torch.cat(samples)
    for _ in range(150):
        tests = draw_tests(pooled, 32, (0.2, 0.4, 0.8), generator)
        loss = weak_residual(drift, diffusion, times, samples, tests).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.allclose(drift.theta.detach(), ou.theta, rtol=0.15)
    assert torch.allclose(diffusion.log_sigma.exp().detach(), ou.sigma, rtol=0.15)


def test_weak_residual_bad_input():
    tests = _tests()
    drift, diffusion = _LinearDrift(2), _ConstantDiffusion(2)
    with pytest.raises(ValueError, match="expected one sample set per time and at least two times"):
        weak_residual(drift, diffusion, torch.tensor([0.0, 1.0]), [torch.randn(4, 2, dtype=torch.float64)], tests)
    with pytest.raises(ValueError, match="expected count ≥ 1 and positive width factors"):
        draw_tests(torch.randn(10, 2), 0, (0.5,), torch.Generator())
    with pytest.raises(ValueError, match="expected count ≥ 1 and positive width factors"):
        draw_tests(torch.randn(10, 2), 4, (0.5, -1.0), torch.Generator())


def test_inverse_problem_residual_option():
    small = dict(n_per_time=40, simulation_dt=0.05, times=[0.0, 0.3, 0.6], held_out_times=[0.45], components=2,
                 hollow_width=8, hidden_features=2, dtype="float64")
    with pytest.raises(ValueError, match="config key 'residual'"):
        InverseFokkerPlanck(InverseConfig(residual="pointwise", **small))
    problem = InverseFokkerPlanck(InverseConfig(residual="weak", test_functions=8, **small))
    torch.manual_seed(0)
    model = problem.build_model()
    batch = problem.sample(torch.Generator().manual_seed(0), 16)
    assert batch["test_centres"].shape == (8, 2) and batch["test_widths"].shape == (8,)
    _, terms = problem.loss(model, batch)
    grads = dict(zip([n for n, _ in model.named_parameters()],
                     torch.autograd.grad(terms["fp"], list(model.parameters()), allow_unused=True)))
    assert all(g is None for n, g in grads.items() if n.startswith("density"))
    assert any(g is not None and float(g.abs().max()) > 0 for n, g in grads.items() if n.startswith("diffusion"))
