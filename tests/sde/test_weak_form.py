"""The weak-form Fokker–Planck residual: test-function derivatives, the identity d/dt E[φ] = E[Lφ] on OU,
recovery of a known drift and diffusion from snapshots, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import hodphys.sde as sde
from hodphys.sde.inverse import InverseConfig, InverseFokkerPlanck
from hodphys.sde.weak_form import (GaussianTests, cumulative_trapezoid_weights, draw_tests, gaussian_terms,
                                    gaussian_values, generator_mean, mean_test_values, pair_weights, pairwise_residual,
                                    snapshot_moments, weak_loss, weak_residual)


def _tests(d=2, m=5, seed=0):
    """m Gaussians, some of them ignoring a coordinate (precision 0)."""
    generator = torch.Generator().manual_seed(seed)
    precisions = 1 / (0.3 + torch.rand(m, d, generator=generator, dtype=torch.float64)) ** 2
    precisions[::2, 0] = 0.0
    return GaussianTests(torch.randn(m, d, generator=generator, dtype=torch.float64), precisions)


def test_gaussian_terms_match_torch_func():
    tests = _tests(d=3)
    x = torch.randn(7, 3, dtype=torch.float64)
    phi, gradient, hessian_diagonal = gaussian_terms(tests, x)

    def one(j):
        return lambda z: torch.exp(-0.5 * (tests.precisions[j] * (z - tests.centres[j]) ** 2).sum())

    for j in range(len(tests.centres)):
        for n in range(len(x)):
            assert torch.allclose(phi[n, j], one(j)(x[n]), rtol=1e-12, atol=0)
            assert torch.allclose(gradient[n, j], torch.func.grad(one(j))(x[n]), rtol=1e-10, atol=1e-14)
            hessian = torch.func.hessian(one(j))(x[n])
            assert torch.allclose(hessian_diagonal[n, j], torch.diagonal(hessian), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("d, seed", [(2, 0), (5, 1), (8, 2)])
def test_gaussian_values_by_gemm_equal_the_direct_exponent(d, seed):
    tests = _tests(d=d, m=9, seed=seed)
    x = 2 * torch.randn(40, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    direct = torch.exp(-0.5 * (tests.precisions * (x.unsqueeze(-2) - tests.centres) ** 2).sum(-1))
    assert torch.allclose(gaussian_values(tests, x), direct, rtol=1e-12, atol=1e-300)
    assert torch.allclose(gaussian_values(tests, x), gaussian_terms(tests, x)[0], rtol=1e-12, atol=1e-300)
    # the snapshot means, chunked: the same as one mean over every sample
    means = mean_test_values([x[:25], x[25:]], tests, chunk=7)
    assert torch.allclose(means, torch.stack([direct[:25].mean(0), direct[25:].mean(0)]), rtol=1e-12, atol=1e-300)


def test_draw_tests_depend_on_the_asked_coordinates():
    pooled = torch.randn(500, 8, dtype=torch.float64) * torch.arange(1, 9, dtype=torch.float64)
    tests = draw_tests(pooled, 40, (0.5,), torch.Generator().manual_seed(0), coordinates=2)
    assert ((tests.precisions > 0).sum(-1) == 2).all()
    widths = tests.precisions.rsqrt()[tests.precisions > 0]
    stds = (0.5 * pooled.std()).expand(40, 8)[tests.precisions > 0]
    assert torch.allclose(widths, stds, rtol=1e-12)
    assert ((draw_tests(pooled, 4, (0.5,), torch.Generator(), coordinates=20).precisions > 0).all())


def test_draw_tests_jitter_moves_centres_by_their_width():
    """jitter = 0 is the plain bank (same widths and centres at samples); jitter = κ moves each centre off its
    sample by κ · width · N(0, I), the same widths and coordinates as the plain bank's."""
    pooled = torch.randn(500, 3, dtype=torch.float64)
    plain = draw_tests(pooled, 4000, (0.2, 0.8), torch.Generator().manual_seed(1))
    same = draw_tests(pooled, 4000, (0.2, 0.8), torch.Generator().manual_seed(1), jitter=0.0)
    assert torch.equal(same.centres, plain.centres) and torch.equal(same.precisions, plain.precisions)
    moved = draw_tests(pooled, 4000, (0.2, 0.8), torch.Generator().manual_seed(1), jitter=2.0)
    assert torch.equal(moved.precisions, plain.precisions)
    width = plain.precisions.amax(-1).rsqrt().unsqueeze(-1)  # (M, 1)
    standardised = (moved.centres - plain.centres) / (2.0 * width)
    assert abs(float(standardised.std()) - 1) < 0.03 and abs(float(standardised.mean())) < 0.03


def _gaussian_expectation(tests: GaussianTests, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """E[φ_j] under N(mean, diag variance), closed form:
    Π_i (1 + λ_i v_i)^{−½} exp(−λ_i (m_i − c_i)² / 2(1 + λ_i v_i))."""
    spread = 1 + tests.precisions * variance
    return (spread.rsqrt() * torch.exp(-0.5 * tests.precisions * (mean - tests.centres) ** 2 / spread)).prod(-1)


_OU = sde.OrnsteinUhlenbeck([1.0, 0.5], [0.8, 0.6], [1.5, -1.0], [0.2, 0.3])


def _exact_expectations(tests, t):
    """E_t[φ] closed form, E_t[Lφ] by a 30 × 30 Gauss–Hermite rule (exact to float64 here), OU at time t."""
    nodes, weights = (torch.as_tensor(v) for v in np.polynomial.hermite_e.hermegauss(30))
    grid = torch.stack(torch.meshgrid(nodes, nodes, indexing="ij"), -1).reshape(-1, 2)
    grid_weights = (weights[:, None] * weights[None, :]).reshape(-1) / (2 * np.pi)
    tt = torch.tensor([t], dtype=torch.float64)
    x = _OU.mean(tt) + _OU.variance(tt).sqrt() * grid  # quadrature nodes of p_t
    generator = generator_mean(_OU.drift, _OU.diffusion, x, t, tests, weights=grid_weights)
    return _gaussian_expectation(tests, _OU.mean(tt)[0], _OU.variance(tt)[0]), generator


def test_generator_expectation_is_the_rate_of_the_test_function_mean_on_ou():
    """d/dt E_{p_t}[φ] = E_{p_t}[Lφ]: closed-form E[φ] differentiated in t vs Gauss–Hermite E[Lφ] (float64)."""
    tests = _tests()
    for t in (0.1, 0.7, 1.3):
        tt = torch.tensor([t], dtype=torch.float64)
        rate = torch.func.jacfwd(lambda s: _gaussian_expectation(tests, _OU.mean(s)[0], _OU.variance(s)[0]))(tt)[:, 0]
        assert torch.allclose(_exact_expectations(tests, t)[1], rate, rtol=1e-9, atol=1e-12)


def test_pairwise_residual_of_the_exact_law_vanishes_at_second_order():
    """With exact E_t[φ] and E_t[Lφ] of OU, R is the trapezoidal rule's error alone: it shrinks like Δt²."""
    tests = _tests(m=8)
    largest = []
    for count in (6, 11, 21, 41):  # Δt = 0.3, 0.15, 0.075, 0.0375
        times = torch.linspace(0, 1.5, count, dtype=torch.float64)
        means, generators = (torch.stack(v) for v in zip(*(_exact_expectations(tests, float(t)) for t in times)))
        residual = pairwise_residual(times, means, generators)
        assert residual.shape == (count * (count - 1) // 2, 8)
        largest.append(float(residual.abs().max()))
    slopes = np.diff(np.log(largest)) / np.log(0.5)
    assert largest[-1] < 2.5e-4 and (np.abs(slopes - 2) < 0.1).all(), (largest, slopes)


def test_cumulative_trapezoid_weights_integrate_lines_exactly_on_uneven_times():
    times = torch.tensor([0.0, 0.1, 0.35, 0.4, 1.0], dtype=torch.float64)
    integrals = cumulative_trapezoid_weights(times) @ (2 * times + 1)
    assert torch.allclose(integrals, times**2 + times, rtol=0, atol=1e-15)


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
    with pytest.raises(ValueError, match="expected count ≥ 1, positive width factors, coordinates ≥ 1"):
        draw_tests(torch.randn(10, 2), 0, (0.5,), torch.Generator())
    with pytest.raises(ValueError, match="expected count ≥ 1, positive width factors, coordinates ≥ 1"):
        draw_tests(torch.randn(10, 2), 4, (0.5, -1.0), torch.Generator())
    with pytest.raises(ValueError, match="expected count ≥ 1, positive width factors, coordinates ≥ 1"):
        draw_tests(torch.randn(10, 2), 4, (0.5,), torch.Generator(), coordinates=0)
    with pytest.raises(ValueError, match="jitter ≥ 0"):
        draw_tests(torch.randn(10, 2), 4, (0.5,), torch.Generator(), jitter=-1.0)
    with pytest.raises(ValueError, match="expected one sample set per time and at least two times"):
        weak_loss(drift, diffusion, torch.tensor([0.0]), [torch.randn(4, 2, dtype=torch.float64)], tests, ([], []))


def test_inverse_problem_residual_option():
    small = dict(n_per_time=40, simulation_dt=0.05, times=[0.0, 0.3, 0.6], held_out_times=[0.45], components=2,
                 hollow_width=8, hidden_features=2, dtype="float64")
    with pytest.raises(ValueError, match="config key 'residual'"):
        InverseFokkerPlanck(InverseConfig(residual="pointwise", **small))
    with pytest.raises(ValueError, match="config key 'test_functions'"):
        InverseFokkerPlanck(InverseConfig(test_functions=20, test_bank=10, **small))
    problem = InverseFokkerPlanck(InverseConfig(residual="weak", test_functions=8, **small))
    torch.manual_seed(0)
    model = problem.build_model()
    batch = problem.sample(torch.Generator().manual_seed(0), 16)
    assert batch["tests"].shape == (8,) and len(set(batch["tests"].tolist())) == 8
    assert problem.tests.precisions.shape == (problem.config.test_bank, 2)
    assert problem.test_means.shape == (3, problem.config.test_bank)
    assert batch["weak_a"].shape == batch["weak_b"].shape == (3, problem.config.weak_batch)
    _, terms = problem.loss(model, batch)
    grads = dict(zip([n for n, _ in model.named_parameters()],
                     torch.autograd.grad(terms["fp"], list(model.parameters()), allow_unused=True)))
    assert all(g is None for n, g in grads.items() if n.startswith("density"))
    assert any(g is not None and float(g.abs().max()) > 0 for n, g in grads.items() if n.startswith("diffusion"))


def test_weak_loss_is_an_unbiased_estimate_of_the_full_mean_square():
    """mean(R_A ⊙ R_B) over independent minibatches averages to mean R² (all samples); squaring one minibatch's
    R does not (it adds the minibatch variance). With every sample as both minibatches it is mean R² exactly."""
    generator = torch.Generator().manual_seed(0)
    times = torch.tensor([0.0, 0.4, 0.8], dtype=torch.float64)
    samples = [_OU.sample(float(t), 60, generator) for t in times]
    drift, diffusion, tests = _OU.drift, _OU.diffusion, _tests(m=6)  # the truth: R is sampling noise alone
    with torch.no_grad():
        target = float(weak_residual(drift, diffusion, times, samples, tests).square().mean())
        everything = [torch.arange(60)] * 3
        assert weak_loss(drift, diffusion, times, samples, tests, (everything, everything)) == pytest.approx(
            target, rel=1e-12)
        draws = [[torch.randint(60, (8,), generator=generator) for _ in times] for _ in range(2 * 200)]
        paired = torch.tensor([float(weak_loss(drift, diffusion, times, samples, tests, (a, b)))
                               for a, b in zip(draws[::2], draws[1::2])])
        squared = torch.tensor([float(weak_loss(drift, diffusion, times, samples, tests, (a, a))) for a in draws[::2]])
    assert abs(float(paired.mean()) - target) < 3 * float(paired.std()) / 200 ** 0.5
    assert float(squared.mean()) - target > 3 * float(squared.std()) / 200 ** 0.5


def test_process_defaults_fill_what_the_config_leaves_open():
    from hodphys.sde.inverse_config import PROCESS_DEFAULTS

    ou = InverseConfig(process="ornstein-uhlenbeck")
    assert (ou.residual, ou.activation, ou.times, ou.n_per_time) == ("strong", "softplus", [0.0, 0.25, 0.5, 1.0, 1.5],
                                                                     1000)
    assert ou.weak_batch == 0
    well = InverseConfig()
    assert (well.residual, well.activation, well.times) == ("weak", "tanh", PROCESS_DEFAULTS["double-well"]["times"])
    assert (well.n_per_time, well.weak_batch) == (10000, 512)  # many samples, seen through unbiased minibatches
    chosen = InverseConfig(process="ornstein-uhlenbeck", residual="weak", activation="tanh", times=[0.0, 1.0],
                           weak_batch=64)
    assert (chosen.residual, chosen.activation, chosen.times, chosen.weak_batch) == ("weak", "tanh", [0.0, 1.0], 64)
    assert InverseConfig(weak_batch=0).weak_batch == 0  # an explicit 0 (every sample) is kept


def test_pairwise_residual_span_keeps_the_nearby_pairs():
    generator = torch.Generator().manual_seed(0)
    times = torch.tensor([0.0, 0.1, 0.3, 0.4], dtype=torch.float64)
    means, generators = (torch.randn(4, 3, generator=generator, dtype=torch.float64) for _ in range(2))
    consecutive = pairwise_residual(times, means, generators, span=1)
    steps = (times[1:] - times[:-1]).unsqueeze(-1)
    assert torch.allclose(consecutive, means[1:] - means[:-1] - steps / 2 * (generators[1:] + generators[:-1]),
                          rtol=1e-12)
    assert pairwise_residual(times, means, generators, span=2).shape == (5, 3)
    assert pairwise_residual(times, means, generators).shape == (6, 3)


def test_inverse_problem_full_data_weak_loss_is_the_plain_square():
    small = dict(n_per_time=40, simulation_dt=0.05, times=[0.0, 0.3, 0.6], held_out_times=[0.45], components=2,
                 hollow_width=8, hidden_features=2, dtype="float64", test_functions=8, weak_batch=0, weak_span=1)
    problem = InverseFokkerPlanck(InverseConfig(**small))
    torch.manual_seed(0)
    model = problem.build_model()
    batch = problem.sample(torch.Generator().manual_seed(0), 16)
    _, terms = problem.loss(model, batch)
    tests = GaussianTests(problem.tests.centres[batch["tests"]], problem.tests.precisions[batch["tests"]])
    residual = weak_residual(model.drift, model.diffusion, problem.data.times, problem.samples, tests, span=1)
    assert residual.shape == (2, 8)
    weights = problem.test_weights[:, batch["tests"]]  # the default: inverse-variance rows
    assert float(terms["fp"]) == pytest.approx(float((weights * residual.square()).mean()), rel=1e-10)
    plain = InverseFokkerPlanck(InverseConfig(**(small | {"weak_weights": "none"})))
    assert plain.test_weights is None
    _, terms = plain.loss(model, batch)
    assert float(terms["fp"]) == pytest.approx(float(residual.square().mean()), rel=1e-10)
    with pytest.raises(ValueError, match="config key 'weak_weights'"):
        InverseFokkerPlanck(InverseConfig(**(small | {"weak_weights": "mass"})))
    with pytest.raises(ValueError, match=r"weak_batch \(or 0\)"):
        InverseFokkerPlanck(InverseConfig(**(small | {"weak_batch": 1})))


def test_snapshot_moments_are_the_means_and_the_variance_of_each_mean():
    generator = torch.Generator().manual_seed(3)
    samples = [torch.randn(n, 2, generator=generator, dtype=torch.float64) + k for k, n in enumerate((30, 50, 80))]
    tests = _tests(m=7)
    means, variances = snapshot_moments(samples, tests, chunk=11)
    assert torch.equal(means, mean_test_values(samples, tests, chunk=11))  # the same sums in the same order
    for k, x in enumerate(samples):
        phi = gaussian_values(tests, x)
        assert torch.allclose(variances[k], phi.var(0, unbiased=False) / len(x), rtol=1e-10, atol=1e-300)


def test_pair_weights_follow_the_rows_of_the_pairwise_residual():
    """w_jkm = 1 / (v_jm + v_km + ε) scaled to mean 1, rows in the order of pairwise_residual, for any span; the floor
    ε bounds the weight of a test function no snapshot has mass on."""
    generator = torch.Generator().manual_seed(1)
    variances = torch.rand(5, 6, generator=generator, dtype=torch.float64) * 1e-4
    variances[:, 0] = 0.0  # a test function far from every sample
    times = torch.linspace(0, 1, 5, dtype=torch.float64)
    for span in (0, 1, 2):
        weights = pair_weights(variances, span, floor=0.01)
        # the same pairs as the residual: push the variances through pairwise_residual's row selection
        total = pairwise_residual(times, variances, torch.zeros_like(variances), span)  # v_k − v_j
        assert weights.shape == total.shape
        assert float(weights.mean()) == pytest.approx(1.0, rel=1e-12)
        earlier, later = torch.triu_indices(5, 5, offset=1)
        keep = (later - earlier <= span) if span else torch.ones_like(later, dtype=torch.bool)
        expected = 1 / (variances[earlier[keep]] + variances[later[keep]] + 0.01 * variances.mean())
        assert torch.allclose(weights, expected / expected.mean(), rtol=1e-12)
        assert torch.allclose(total, variances[later[keep]] - variances[earlier[keep]], rtol=1e-12)
    weights = pair_weights(variances, 1)
    assert float(weights.max()) / float(weights.min()) <= (2 * float(variances.max()) / (0.01 * float(variances.mean()))
                                                           + 1.0) * 1.0000001


def test_weighted_weak_loss_with_every_sample_is_the_weighted_mean_square():
    generator = torch.Generator().manual_seed(0)
    times = torch.tensor([0.0, 0.4, 0.8], dtype=torch.float64)
    samples = [_OU.sample(float(t), 60, generator) for t in times]
    tests = _tests(m=6)
    drift = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    weights = torch.rand(3, 6, generator=generator, dtype=torch.float64)
    everything = [torch.arange(60)] * 3
    residual = weak_residual(drift, _OU.diffusion, times, samples, tests)
    loss = weak_loss(drift, _OU.diffusion, times, samples, tests, (everything, everything), weights=weights)
    assert float(loss) == pytest.approx(float((weights * residual.square()).mean()), rel=1e-12)
    unweighted = weak_loss(drift, _OU.diffusion, times, samples, tests, (everything, everything))
    assert float(loss) != pytest.approx(float(unweighted), rel=1e-3)
