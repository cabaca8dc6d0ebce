"""Study: the floor of the weak-form estimator — least squares in a linear function family, no network.

The weak residual R is linear in (f, a = g²). With f_i and a_i in finite families, minimising Σ R² is a
linear least-squares problem: its error is the best a fit of R in that family can reach from the data
(sampling noise, quadrature, identifiability), so each change of the estimator is checked here before
a network is trained with it. Two families (``family``):

    "exact" (contains the double well's true coefficients):
        f_i ∈ span{x^α : |α| ≤ 3} (d = 2, 10 monomials);  d > 2: span{1, x_i, x_i², x_i³, x_1, …, x_d}
        a_i ∈ span{1, tanh x_i, tanh² x_i}            (true: a_i = σ² (1 + ½ tanh x_i)²)
    "polynomial" (generic, as flexible as a network is asked to be; it contains the true f when
    drift_degree ≥ 3, never the true a):
        f_i ∈ span{x^α : |α| ≤ drift_degree},   a_i ∈ span{x^α : |α| ≤ diffusion_degree}   (all d coordinates)
``known_diffusion``: a = g² is the true one, only f is fitted — how much of the drift error is
the (f, a) trade-off the snapshots leave open, i.e. what a perfect prior on g would buy.

Estimators: ``pairs`` (hodphys.sde.weak_form: every pair of snapshots, cumulative trapezoid) and
``steps`` (the earlier finite difference (E_{k+1}[φ] − E_k[φ])/Δt − ½(E_k[Lφ] + E_{k+1}[Lφ])).
Errors: relative L2 of f and g on 1000 fresh true samples at every observed time after 0 (and per time:
``drift_rel_l2_by_time``, ``diffusion_rel_l2_by_time``).

    python -m hodphys.bench.studies.sde_floor --dim 2 --n 4000 --estimator pairs --coordinates 2
    python -m hodphys.bench.studies.sde_floor --n 10000 --family polynomial --drift-degree 5 --diffusion-degree 4

Glossary: N samples, d dimensions, M test functions, T times, Q basis functions per coordinate.
"""
from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable

import torch
from torch import Tensor

from hodphys.sde.processes import DoubleWell
from hodphys.sde.snapshots import simulate_snapshots
from hodphys.sde.weak_form import draw_tests, gaussian_terms, pair_weights, pairwise_residual, snapshot_moments

ESTIMATORS = ("pairs", "steps")
WEIGHTS = ("none", "inverse-variance")
FAMILIES = ("exact", "polynomial")
FRESH = 1000  # fresh true samples per observed time at which the errors are measured
Basis = Callable[[Tensor], Tensor]


def monomials(x: Tensor, degree: int) -> Tensor:
    """(N, d, Q): every monomial x^α of all d coordinates with |α| ≤ degree, the same family for each f_i."""
    d = x.shape[-1]
    columns = [torch.ones_like(x[:, 0])]
    for order in range(1, degree + 1):
        columns += [x[:, list(index)].prod(-1) for index in itertools.combinations_with_replacement(range(d), order)]
    return torch.stack(columns, -1).unsqueeze(1).expand(-1, d, -1)


def drift_basis(x: Tensor) -> Tensor:
    """(N, d, Q_f): the drift family of coordinate i at x (N, d)."""
    d = x.shape[-1]
    if d == 2:
        monomials = [x[:, 0] ** i * x[:, 1] ** j for i in range(4) for j in range(4 - i)]
        return torch.stack(monomials, -1).unsqueeze(1).expand(-1, 2, -1)
    own = torch.stack([torch.ones_like(x), x, x**2, x**3], -1)
    return torch.cat([own, x.unsqueeze(1).expand(-1, d, -1)], -1)


def diffusion_basis(x: Tensor) -> Tensor:
    """(N, d, Q_a): the family of a_i = g_i² at x (N, d)."""
    th = torch.tanh(x)
    return torch.stack([torch.ones_like(x), th, th**2], -1)


def bases(family: str, drift_degree: int = 3, diffusion_degree: int = 2) -> tuple[Basis, Basis]:
    """The drift and diffusion families of ``family`` (see the module docstring)."""
    if family not in FAMILIES or min(drift_degree, diffusion_degree) < 0:
        raise ValueError(f"sde_floor: expected family in {list(FAMILIES)} and degrees ≥ 0, "
                         f"got {family!r}, {drift_degree}, {diffusion_degree}")
    if family == "exact":
        return drift_basis, diffusion_basis
    return (lambda x: monomials(x, drift_degree)), (lambda x: monomials(x, diffusion_degree))


def regressors(x: Tensor, tests, chunk: int = 2000, families: tuple[Basis, Basis] = (drift_basis, diffusion_basis)
               ) -> Tensor:
    """E[Lφ_m] per coefficient: (M, d·Q_f + d·Q_a), so that E[Lφ] = regressors @ θ."""
    total = 0
    drift_family, diffusion_family = families
    for part in x.split(chunk):
        _, gradient, hessian_diagonal = gaussian_terms(tests, part)
        f = torch.einsum("nmi,niq->miq", gradient, drift_family(part)).flatten(1)
        a = 0.5 * torch.einsum("nmi,niq->miq", hessian_diagonal, diffusion_family(part)).flatten(1)
        total = total + torch.cat([f, a], -1)
    return total / len(x)


def design(times: Tensor, means: Tensor, generators: Tensor, estimator: str) -> tuple[Tensor, Tensor]:
    """(A, b) with R = b − A θ stacked over rows: means (T, M), generators (T, M, P)."""
    if estimator == "pairs":
        b = pairwise_residual(times, means, torch.zeros_like(means)).flatten()
        A = -pairwise_residual(times, torch.zeros_like(generators), generators).flatten(0, 1)
        return A, b
    steps = (times[1:] - times[:-1]).to(means)
    b = ((means[1:] - means[:-1]) / steps.unsqueeze(-1)).flatten()
    return (0.5 * (generators[1:] + generators[:-1])).flatten(0, 1), b


def floor(dim: int = 2, n: int = 1000, estimator: str = "pairs", coordinates: int = 2, tests: int = 800,
          step: float = 0.1, final: float = 1.5, seed: int = 0, family: str = "exact", drift_degree: int = 3,
          diffusion_degree: int = 2, known_diffusion: bool = False, weights: str = "none"
          ) -> dict[str, float | list[float]]:
    """Drift and diffusion relative L2 errors of the least-squares fit in ``family`` (see the module docstring);
    ``weights="inverse-variance"``: rows of the ``pairs`` estimator weighted as the inverse problem weights them
    (:func:`hodphys.sde.weak_form.pair_weights`)."""
    if estimator not in ESTIMATORS or weights not in WEIGHTS or (weights != "none" and estimator != "pairs"):
        raise ValueError(f"sde_floor: expected estimator in {list(ESTIMATORS)} and weights in {list(WEIGHTS)} "
                         f"(weights only with 'pairs'), got {estimator!r}, {weights!r}")
    truth = DoubleWell(dim)
    drift_family, diffusion_family = bases(family, drift_degree, diffusion_degree)
    if known_diffusion:   # one "basis function" per coordinate, the true a_i, its coefficient fixed at 1 below
        diffusion_family = lambda x: truth.diffusion(x).square().unsqueeze(-1)  # noqa: E731
    families = drift_family, diffusion_family
    times = [round(step * k, 6) for k in range(int(round(final / step)) + 1)]
    data = simulate_snapshots(truth.drift, truth.diffusion, truth.initial, times, n, 2024 + seed)
    fresh = simulate_snapshots(truth.drift, truth.diffusion, truth.initial, times[1:], FRESH, 99 + seed)
    fresh = torch.cat(fresh.samples)
    bank = draw_tests(torch.cat(data.samples), tests, (0.2, 0.4, 0.8), torch.Generator().manual_seed(seed), coordinates)
    generators = torch.stack([regressors(x, bank, families=families) for x in data.samples])
    means, variances = snapshot_moments(data.samples, bank)
    A, b = design(data.times, means, generators, estimator)
    if weights == "inverse-variance":  # least squares of √w R
        root = pair_weights(variances).sqrt().flatten()
        A, b = A * root.unsqueeze(-1), b * root
    split = dim * drift_family(fresh[:1]).shape[-1]
    if known_diffusion:   # R = b − A_f θ_f − A_a 1
        b, A = b - A[:, split:].sum(-1), A[:, :split]
    theta = torch.linalg.lstsq(A, b.unsqueeze(-1), driver="gelsd").solution[:, 0]
    if known_diffusion:
        theta = torch.cat([theta, theta.new_ones(dim)])
    f = torch.einsum("niq,iq->ni", drift_family(fresh), theta[:split].view(dim, -1))
    g = torch.einsum("niq,iq->ni", diffusion_family(fresh), theta[split:].view(dim, -1)).clamp(min=0).sqrt()
    return errors(f, g, truth.drift(fresh), truth.diffusion(fresh))


def errors(f: Tensor, g: Tensor, f_true: Tensor, g_true: Tensor) -> dict[str, float | list[float]]:
    """Relative L2 errors of f, g (N, d) over all N = T·FRESH points, per time (blocks of FRESH rows) and,
    for d > 2, of f on the first pair, where the rotation is visible, and on the rest (see docs/sde.md)."""
    def relative(error: Tensor, true: Tensor) -> float:
        return float(error.norm() / true.norm())

    out: dict[str, float | list[float]] = {"drift_rel_l2": relative(f - f_true, f_true),
                                           "diffusion_rel_l2": relative(g - g_true, g_true)}
    for name, error, true in (("drift", f - f_true, f_true), ("diffusion", g - g_true, g_true)):
        blocks = zip(error.split(FRESH), true.split(FRESH))
        out[f"{name}_rel_l2_by_time"] = [round(relative(e, t), 4) for e, t in blocks]
    if f.shape[-1] > 2:
        out["drift_rel_l2_x1x2"] = relative((f - f_true)[:, :2], f_true[:, :2])
        out["drift_rel_l2_rest"] = relative((f - f_true)[:, 2:], f_true[:, 2:])
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--n", type=int, default=1000, help="samples per snapshot")
    parser.add_argument("--estimator", choices=ESTIMATORS, default="pairs")
    parser.add_argument("--coordinates", type=int, default=2, help="coordinates per test function")
    parser.add_argument("--tests", type=int, default=800)
    parser.add_argument("--step", type=float, default=0.1, help="time between snapshots")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--family", choices=FAMILIES, default="exact")
    parser.add_argument("--drift-degree", type=int, default=3, help="family polynomial: degree of f_i")
    parser.add_argument("--diffusion-degree", type=int, default=2, help="family polynomial: degree of a_i = g_i²")
    parser.add_argument("--weights", choices=WEIGHTS, default="none",
                        help="rows of 'pairs' (the inverse problem's: inverse-variance)")
    parser.add_argument("--known-diffusion", action="store_true", help="a = g² is the true one; fit f only")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = floor(args.dim, args.n, args.estimator, args.coordinates, args.tests, args.step, seed=args.seed,
                   family=args.family, drift_degree=args.drift_degree, diffusion_degree=args.diffusion_degree,
                   known_diffusion=args.known_diffusion, weights=args.weights)
    print(json.dumps(vars(args) | result))


if __name__ == "__main__":
    main()
