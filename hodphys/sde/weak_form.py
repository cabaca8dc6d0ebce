"""The Fokker–Planck equation in weak form, tested on the snapshots themselves.

For a test function φ(x) and the generator L φ = f·∇φ + ½ Σ_i a_i ∂_i²φ (a = g²), the Fokker–Planck
equation is equivalent to  d/dt E_{p_t}[φ] = E_{p_t}[L φ]  for every φ (integrate φ · r_plain by parts:
E_{p_t}[φ r_log] = d/dt E[φ] − E[Lφ]). Integrated over an observation interval with the trapezoidal rule,

    R_kj = (E_{k+1}[φ_j] − E_k[φ_j]) / Δt_k − ½ (E_k[L φ_j] + E_{k+1}[L φ_j]),

where E_k is the mean over the samples of snapshot k: no density model and no derivative of f or g
enter, so neither a density's error between snapshots nor its noisy ∂²s can leak into f and g.
R is linear in (f, a); its square's minimiser is a least-squares fit whose regressors are averages
over whole snapshots. Test functions: Gaussians φ_j(x) = exp(−‖x − c_j‖² / 2w_j²).

Glossary: N samples, d dimensions, M test functions, T snapshot times.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from hodphys.sde.coefficients import evaluate


class GaussianTests(NamedTuple):
    """M Gaussian test functions: centres (M, d), widths (M,)."""

    centres: Tensor
    widths: Tensor


def draw_tests(pooled: Tensor, count: int, width_factors: tuple[float, ...], generator: torch.Generator
               ) -> GaussianTests:
    """``count`` Gaussians centred at random samples of ``pooled`` (N, d), widths = factor · pooled std."""
    if count < 1 or not width_factors or min(width_factors) <= 0:
        raise ValueError(f"draw_tests: expected count ≥ 1 and positive width factors, "
                         f"got {count}, {list(width_factors)}")
    index = torch.randint(len(pooled), (count,), generator=generator)
    factors = torch.as_tensor(width_factors, dtype=pooled.dtype)
    widths = float(pooled.std()) * factors[torch.randint(len(factors), (count,), generator=generator)]
    return GaussianTests(pooled[index].to(pooled), widths.to(pooled))


def gaussian_terms(tests: GaussianTests, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """φ (N, M), ∇φ (N, M, d) and diag ∇²φ (N, M, d) of every test function at x (N, d)."""
    offset = x.unsqueeze(-2) - tests.centres  # (N, M, d)
    w2 = tests.widths.unsqueeze(-1) ** 2  # (M, 1)
    phi = torch.exp(-0.5 * (offset**2 / w2).sum(-1))
    gradient = -offset / w2 * phi.unsqueeze(-1)
    hessian_diagonal = (offset**2 / w2**2 - 1 / w2) * phi.unsqueeze(-1)
    return phi, gradient, hessian_diagonal


def snapshot_expectations(drift: nn.Module, diffusion: nn.Module, x: Tensor, t: float,
                          tests: GaussianTests) -> tuple[Tensor, Tensor]:
    """E[φ_j] and E[L φ_j] over the samples x (N, d) of one snapshot at time t: two (M,) tensors."""
    times = torch.full((len(x),), float(t), dtype=x.dtype, device=x.device)
    f, a = evaluate(drift, x, times), evaluate(diffusion, x, times) ** 2
    phi, gradient, hessian_diagonal = gaussian_terms(tests, x)
    generator = (f.unsqueeze(-2) * gradient).sum(-1) + 0.5 * (a.unsqueeze(-2) * hessian_diagonal).sum(-1)
    return phi.mean(0), generator.mean(0)


def weak_residual(drift: nn.Module, diffusion: nn.Module, times: Tensor, samples: list[Tensor],
                  tests: GaussianTests) -> Tensor:
    """R (T − 1, M) of the module docstring, from snapshots ``samples[k]`` (n_k, d) at ``times[k]``."""
    if len(times) != len(samples) or len(times) < 2:
        raise ValueError(f"weak_residual: expected one sample set per time and at least two times, "
                         f"got {len(times)} times and {len(samples)} sample sets")
    means, generators = zip(*(snapshot_expectations(drift, diffusion, x, float(t), tests)
                              for t, x in zip(times, samples)))
    means, generators = torch.stack(means), torch.stack(generators)
    steps = (times[1:] - times[:-1]).to(means).unsqueeze(-1)
    return (means[1:] - means[:-1]) / steps - 0.5 * (generators[1:] + generators[:-1])
