"""The Fokker–Planck equation in weak, time-integrated form, tested on the snapshots themselves.

For a test function φ(x) and the generator L φ = f·∇φ + ½ Σ_i a_i ∂_i²φ (a = g²), the Fokker–Planck
equation is equivalent to  d/dt E_{p_t}[φ] = E_{p_t}[L φ]  for every φ (integrate φ · r_plain by parts).
Integrated between any two observation times t_j < t_k:

    R_jkm = E_k[φ_m] − E_j[φ_m] − ∫_{t_j}^{t_k} E_t[L φ_m] dt,     C_k = ∫_{t_0}^{t_k} E_t[Lφ] dt = Σ_l W_kl E_l[Lφ]

with W the cumulative trapezoidal rule over the snapshot times (error O(Δt²)), E_k the mean over
snapshot k's samples. No finite difference in time divides the sampling noise of E_k[φ] by Δt, and
no density model or derivative of f or g enters. R is linear in (f, a): its mean square is a
least-squares fit whose regressors are averages over whole snapshots. E_k[φ] needs no network, so
it is taken over every sample; E_k[Lφ] is taken over minibatches, and the square of R is estimated
without bias by the product of two residuals from independent minibatches (:func:`weak_loss`).

Test functions: Gaussians of a few coordinates each, φ_m(x) = exp(−½ Σ_i λ_mi (x_i − c_mi)²), λ_mi = 0
for the coordinates φ_m does not depend on: a Gaussian of all d coordinates is ≈ 0 at almost every
sample once d is large (the squared distance to its centre grows like d).

Glossary: N samples, d dimensions, M test functions, T snapshot times, P = T(T − 1)/2 pairs of times.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from hodphys.sde.coefficients import evaluate


class GaussianTests(NamedTuple):
    """M Gaussian test functions: centres (M, d), precisions λ = 1/width² (M, d), 0 where φ ignores x_i."""

    centres: Tensor
    precisions: Tensor


def draw_tests(pooled: Tensor, count: int, width_factors: tuple[float, ...], generator: torch.Generator,
               coordinates: int = 2, jitter: float = 0.0) -> GaussianTests:
    """``count`` Gaussians centred at random samples of ``pooled`` (N, d), each of ``coordinates`` random
    coordinates (all when ≥ d), width = a random factor of ``width_factors`` · the pooled std of all coordinates
    (per-coordinate stds, narrower along x₂ of the double well, raise the exact-family floor: docs/sde.md);
    ``jitter`` = κ > 0 moves each centre off its sample by κ · width · N(0, I) (centres from the data's kernel
    density estimate, so Gaussians beyond the data's edge, which see its thin tail, are drawn too)."""
    if count < 1 or not width_factors or min(width_factors) <= 0 or coordinates < 1 or not 0 <= jitter < math.inf:
        raise ValueError(f"draw_tests: expected count ≥ 1, positive width factors, coordinates ≥ 1 and a finite "
                         f"jitter ≥ 0, got {count}, {list(width_factors)}, {coordinates}, {jitter}")
    d = pooled.shape[-1]
    centres = pooled[torch.randint(len(pooled), (count,), generator=generator)]
    factors = torch.as_tensor(width_factors, dtype=pooled.dtype)
    factor = factors[torch.randint(len(factors), (count,), generator=generator)]
    chosen = torch.rand(count, d, generator=generator).argsort(-1) < min(coordinates, d)  # (M, d)
    width = factor.unsqueeze(-1) * pooled.std()  # (M, 1)
    precisions = chosen.to(pooled) / width**2
    if jitter > 0:
        centres = centres + jitter * width * torch.randn(count, d, generator=generator, dtype=pooled.dtype)
    return GaussianTests(centres.to(pooled), precisions)


def gaussian_values(tests: GaussianTests, x: Tensor) -> Tensor:
    """φ (N, M) of every test function at x (N, d), with the exponent as two GEMMs,
    Σ_i λ_mi (x_i − c_mi)² = x² λᵀ − 2 x (λ c)ᵀ + Σ_i λ_mi c_mi², instead of an (N, M, d) tensor (d× the
    memory and work: the mean over 10 000 samples × 16 snapshots at d = 8 took minutes and gigabytes).
    Exact up to round-off (≈ 1e-14 of the exponent, where φ is not negligible)."""
    lam = tests.precisions
    exponent = (x * x) @ lam.T - 2 * x @ (lam * tests.centres).T + (lam * tests.centres**2).sum(-1)
    return torch.exp(-0.5 * exponent.clamp(min=0))


def gaussian_terms(tests: GaussianTests, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """φ (N, M), ∇φ (N, M, d) and diag ∇²φ (N, M, d) of every test function at x (N, d)."""
    offset = x.unsqueeze(-2) - tests.centres  # (N, M, d)
    scaled = tests.precisions * offset  # λ (x − c)
    phi = torch.exp(-0.5 * (scaled * offset).sum(-1))
    gradient = -scaled * phi.unsqueeze(-1)
    hessian_diagonal = (scaled**2 - tests.precisions) * phi.unsqueeze(-1)
    return phi, gradient, hessian_diagonal


def generator_values(drift: nn.Module, diffusion: nn.Module, x: Tensor, t: Tensor, tests: GaussianTests) -> Tensor:
    """L φ_m at every sample: x (N, d) at times t (N,) → (N, M)."""
    return generator_of(evaluate(drift, x, t), evaluate(diffusion, x, t) ** 2, x, tests)


def generator_of(f: Tensor, a: Tensor, x: Tensor, tests: GaussianTests) -> Tensor:
    """L φ_m = f·∇φ_m + ½ Σ_i a_i ∂_i²φ_m at every sample x (N, d), given f and a = g² there (N, d) → (N, M).
    Linear in (f, a), so a difference of two generators is the generator of the differences."""
    _, gradient, hessian_diagonal = gaussian_terms(tests, x)
    return (f.unsqueeze(-2) * gradient).sum(-1) + 0.5 * (a.unsqueeze(-2) * hessian_diagonal).sum(-1)


def generator_mean(drift: nn.Module, diffusion: nn.Module, x: Tensor, t: float, tests: GaussianTests,
                   weights: Tensor | None = None) -> Tensor:
    """E[L φ_m] (M,) over the samples x (N, d) at time t (uniform, or ``weights`` (N,) summing to 1)."""
    times = torch.full((len(x),), float(t), dtype=x.dtype, device=x.device)
    values = generator_values(drift, diffusion, x, times, tests)
    return values.mean(0) if weights is None else weights @ values


@torch.no_grad()
def snapshot_moments(samples: list[Tensor], tests: GaussianTests, chunk: int = 8192) -> tuple[Tensor, Tensor]:
    """E_k[φ_m] and Var(E_k[φ_m]) = (E_k[φ_m²] − E_k[φ_m]²) / n_k, both (T, M), over every sample of every snapshot
    in one pass (no network: cheap, no minibatch needed). The variance is the sampling variance of the mean."""
    means, seconds = [], []
    for x in samples:
        first = second = 0
        for part in x.split(chunk):
            phi = gaussian_values(tests, part)
            first, second = first + phi.sum(0), second + phi.square().sum(0)
        means.append(first / len(x))
        seconds.append(second / len(x))
    means_t, sizes = torch.stack(means), torch.tensor([len(x) for x in samples], dtype=means[0].dtype)
    return means_t, (torch.stack(seconds) - means_t.square()).clamp(min=0) / sizes.unsqueeze(-1)


@torch.no_grad()
def mean_test_values(samples: list[Tensor], tests: GaussianTests, chunk: int = 8192) -> Tensor:
    """E_k[φ_m] (T, M) over every sample of every snapshot (no network: cheap, no minibatch needed); with the
    sampling variances too: :func:`snapshot_moments`."""
    return torch.stack([sum(gaussian_values(tests, part).sum(0) for part in x.split(chunk)) / len(x)
                        for x in samples])


def pair_weights(variances: Tensor, span: int = 0, floor: float = 0.01) -> Tensor:
    """Inverse-variance weights (P, M) of the rows R_jkm (pairs as :func:`pairwise_residual` orders them):
    w = 1 / (Var E_j[φ_m] + Var E_k[φ_m] + ε), ε = ``floor`` · the mean variance (a test function where neither
    snapshot has mass carries no information, and must not get an unbounded weight), scaled to mean 1.

    Unweighted, a test function where the population is sparse (the emptier well) enters mean R² with a weight
    ∝ its mass², since R ∝ mass there while its noise is ∝ √mass: the fit then ignores sparsely populated
    regions. Weighting by the inverse noise variance of the row's data term makes each row count by its
    signal-to-noise (the noise of E[Lφ], which depends on f and g, is left out; it scales with the mass alike)."""
    earlier, later = pair_indices(len(variances), span)
    weights = 1 / (variances[earlier] + variances[later] + floor * variances.mean())
    return weights / weights.mean()


def cumulative_trapezoid_weights(times: Tensor) -> Tensor:
    """W (T, T) with (W g)_k = ∫_{t_0}^{t_k} g dt by the trapezoidal rule on the points ``times`` (T,)."""
    steps = times[1:] - times[:-1]
    per_step = torch.zeros(len(steps), len(times), dtype=times.dtype)
    index = torch.arange(len(steps))
    per_step[index, index] += steps / 2
    per_step[index, index + 1] += steps / 2
    return torch.cat([per_step.new_zeros(1, len(times)), per_step.cumsum(0)])


def pair_indices(count: int, span: int = 0) -> tuple[Tensor, Tensor]:
    """(j, k) of every pair of snapshots j < k with k − j ≤ ``span`` (0: every pair), in row order (P,), (P,)."""
    earlier, later = torch.triu_indices(count, count, offset=1)
    if span > 0:
        earlier, later = earlier[later - earlier <= span], later[later - earlier <= span]
    return earlier, later


def pairwise_residual(times: Tensor, means: Tensor, generators: Tensor, span: int = 0) -> Tensor:
    """R (P, M, …) of the module docstring from E_k[φ] (T, M, …) and E_k[Lφ] (T, M, …), every pair t_j < t_k
    with k − j ≤ ``span`` (0: every pair; 1: consecutive snapshots only)."""
    integrals = torch.tensordot(cumulative_trapezoid_weights(times).to(generators), generators, dims=1)  # C_k
    net = means - integrals  # R_jk = net_k − net_j
    earlier, later = pair_indices(len(times), span)
    return net[later] - net[earlier]


def weak_residual(drift: nn.Module, diffusion: nn.Module, times: Tensor, samples: list[Tensor],
                  tests: GaussianTests, means: Tensor | None = None, span: int = 0, chunk: int | None = None
                  ) -> Tensor:
    """R (P, M) from snapshots ``samples[k]`` (n_k, d) at ``times[k]``, every expectation over all samples
    (E_k[φ] (T, M) given as ``means`` if precomputed; ``span`` as in :func:`pairwise_residual`); ``chunk``:
    samples per network call in E_k[Lφ] (bounds the (chunk, M, d) terms' memory; None: a snapshot at once)."""
    _check(times, samples)
    means = mean_test_values(samples, tests) if means is None else means

    def snapshot_mean(x: Tensor, t: float) -> Tensor:
        if chunk is None:
            return generator_mean(drift, diffusion, x, t, tests)
        return sum(generator_mean(drift, diffusion, part, t, tests) * len(part) for part in x.split(chunk)) / len(x)

    generators = torch.stack([snapshot_mean(x, float(t)) for t, x in zip(times, samples)])
    return pairwise_residual(times, means.to(generators), generators, span)


def weak_loss(drift: nn.Module, diffusion: nn.Module, times: Tensor, samples: list[Tensor], tests: GaussianTests,
              batches: tuple[list[Tensor], list[Tensor]], means: Tensor | None = None, span: int = 0,
              weights: Tensor | None = None) -> Tensor:
    """An unbiased estimate of mean w R² (R over all samples; ``weights`` w (P, M), e.g. :func:`pair_weights`,
    default 1) whose E[Lφ] sees only minibatches: mean(w ⊙ R_A ⊙ R_B), R_A and R_B from two independent
    minibatches ``batches[0][k]``, ``batches[1][k]`` (index tensors into samples[k]); E_k[φ] (T, M) over all
    samples, ``means`` if precomputed. (Squaring one minibatch's R would add its variance, which depends on f
    and g, to the loss.)"""
    _check(times, samples)
    means = mean_test_values(samples, tests) if means is None else means
    picked = [x[index] for batch in batches for x, index in zip(samples, batch)]  # one network call for all
    x = torch.cat(picked)
    t = torch.cat([torch.full((len(part),), float(tk), dtype=x.dtype, device=x.device)
                   for tk, part in zip([*times, *times], picked)])
    values = generator_values(drift, diffusion, x, t, tests).split([len(part) for part in picked])
    generators = torch.stack([part.mean(0) for part in values]).unflatten(0, (2, len(times)))  # (2, T, M)
    first, second = (pairwise_residual(times, means.to(generators), g, span) for g in generators)
    product = first * second
    return (product if weights is None else weights.to(product) * product).mean()


def _check(times: Tensor, samples: list[Tensor]) -> None:
    if len(times) != len(samples) or len(times) < 2:
        raise ValueError(f"weak_residual: expected one sample set per time and at least two times, "
                         f"got {len(times)} times and {len(samples)} sample sets")
