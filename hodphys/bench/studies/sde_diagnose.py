"""Where a fitted ``hodphys run fokker-planck`` run's drift error comes from: noise, optimiser or estimator.

    python -m hodphys.bench.studies.sde_diagnose RUN_DIR [--tests 512] [--supervised-steps 3000] [--visibility]
                                                 [--warm-start LR [LR …]] [--warm-steps N]
                                                 [--full-batch ITERATIONS] [--full-batch-tests M]

Prints, as JSON, (1) the weighted weak loss mean w R² over **every** sample of the run's snapshots (the first
``--tests`` test functions of its bank, the run's row weights, float64) of the learned and of the true (f, g):

* learned < true: the fit follows the snapshots' sampling noise; more steps make the coefficients worse;
* learned > true: it has not reached the data's optimum; better optimisation can still help;
* learned ≈ true with a large drift error: the loss cannot tell the two apart (identifiability);

and (2) the drift error by band of x₁ on the held-out samples: each band's share of the squared error and its
own relative error; and (3) the drift network's capacity: the same architecture fitted to the true drift by
least squares (``supervised_drift_rel_l2``). The run's data are simulated again from its config (same seeds:
the same samples).

With ``--visibility``, (4) whether the snapshots could show the learned coefficients' error at all, for *any*
Gaussian test function of x₁, x₂ (not only the run's bank). The true law satisfies the Fokker–Planck equation
with the true (f, a), so the weak residual of the learned (f̂, â) under the true law is exactly

    V(φ, t) = E_{p_t}[(f − f̂)·∇φ + ½ Σ_i (a_i − â_i) ∂_i²φ],

no time derivative needed (E_{p_t} over fresh true paths read at the observed times and three times between
each pair). A pair t_k < t_{k+1} carries the signal S_k = ∫ V dt against the data's noise
sd_k = √((Var_k φ + Var_{k+1} φ) / n), n = the run's samples a snapshot, so χ²(φ) = Σ_k (S_k / sd_k)² is the
evidence one φ alone holds against the learned coefficients (≈ 9: three standard deviations). Reported per
width over a grid of centres: the largest χ², where, and the largest per column of x₁. A large χ² at centres
the bank lacks says the test functions, not the data, limit the fit.

With ``--warm-start LR …``, (5) whether the loss holds the truth at all: f and g are first fitted to the true
coefficients, then trained on the run's own loss from learning rate LR (:func:`warm_start`). If they wander off
to the run's drift error while the full weak loss stays at or below the truth's, the loss does not prefer the
truth: no optimiser, initialisation or schedule finds it by lowering that loss.

With ``--full-batch ITERATIONS``, (6) whether a deterministic optimiser does better than Adam's noisy steps:
L-BFGS on the full weak loss over every sample and M fixed test functions (:func:`full_batch`), once from the
run's coefficients and once from the truth (fitted as in (5)). Where the two end in loss, and how far apart in
drift, says whether the loss orders the fits the run's training left unordered.

Glossary: T snapshot times, M test functions, P pairs of times.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import tomllib
from pathlib import Path

import torch
from torch import Tensor, nn

from hodphys.checks import check_integers
from hodphys.sde.coefficients import evaluate
from hodphys.sde.inverse import InverseFokkerPlanck, SDEModel
from hodphys.sde.inverse_config import InverseConfig
from hodphys.sde.processes import DoubleWell, OrnsteinUhlenbeck
from hodphys.sde.sampling import sample_paths
from hodphys.sde.weak_form import (GaussianTests, gaussian_terms, generator_of, pairwise_residual,
                                   snapshot_moments, weak_residual)
from hodphys.train.optimizers import adam

BANDS = (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5)  # edges along x₁ (the double well's minima at ±1)


def load_run(run_dir: str | Path) -> tuple[InverseFokkerPlanck, SDEModel]:
    """The problem of a finished run (its config.toml; data simulated again) and its model (model.pt)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file() or not (run_dir / "model.pt").is_file():
        raise ValueError(f"sde_diagnose: expected a finished fokker-planck run directory (config.toml and "
                         f"model.pt), got {run_dir}")
    with open(run_dir / "config.toml", "rb") as file:
        config = InverseConfig(**tomllib.load(file))
    problem = InverseFokkerPlanck(config)
    model = problem.build_model()
    model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True))
    return problem, model


def full_weak_loss(problem: InverseFokkerPlanck, drift: nn.Module, diffusion: nn.Module, tests: int,
                   chunk: int = 4096) -> float:
    """mean w R² over the first ``tests`` functions of the bank, every E_k[Lφ] over every sample (float64)."""
    config = problem.config
    if config.residual != "weak":
        raise ValueError(f"sde_diagnose: expected a run with the weak residual, got residual={config.residual!r}")
    chosen = slice(0, min(tests, config.test_bank))
    bank = GaussianTests(problem.tests.centres[chosen].double(), problem.tests.precisions[chosen].double())
    drift, diffusion = copy.deepcopy(drift).double(), copy.deepcopy(diffusion).double()
    with torch.no_grad():
        residual = weak_residual(drift, diffusion, problem.data.times.double(), [x.double() for x in problem.samples],
                                 bank, problem.test_means[:, chosen].double(), config.weak_span, chunk)  # (P, M)
        weights = (torch.ones_like(residual) if problem.test_weights is None
                   else problem.test_weights[:, chosen].double())
        return float((weights * residual.square()).mean())


def drift_bands(problem: InverseFokkerPlanck, drift: nn.Module, edges: tuple[float, ...] = BANDS
                ) -> list[dict[str, float]]:
    """Per band [a, b) of x₁ over the held-out samples: the number of samples, the band's share of the squared
    drift error and of the true drift's squared norm, and the band's own relative L2 error."""
    x = problem.support()
    with torch.no_grad():
        truth = problem.truth.drift(x.double())
        error = (drift(x).double() - truth).square().sum(-1)
        true = truth.square().sum(-1)
    bands = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (x[:, 0] >= low) & (x[:, 0] < high)
        bands.append(dict(low=low, high=high, samples=int(inside.sum()),
                          error_share=float(error[inside].sum() / error.sum().clamp(min=1e-300)),
                          drift_share=float(true[inside].sum() / true.sum()),
                          relative=float((error[inside].sum() / true[inside].sum().clamp(min=1e-300)).sqrt())))
    return bands


def fit_to_truth(problem: InverseFokkerPlanck, model: SDEModel, steps: int = 3000, batch: int = 8192,
                 lr: float = 1e-2, lr_final: float = 3e-4, seed: int = 0, diffusion: bool = True) -> SDEModel:
    """``model``'s drift (and, with ``diffusion``, its diffusion) fitted in place to the **true** coefficients by
    mean squared error on the training samples (Adam, ``lr`` → ``lr_final`` exponentially); returns ``model``."""
    x, truth = problem.pooled, problem.truth
    pairs = [(model.drift, truth.drift)] + ([(model.diffusion, truth.diffusion)] if diffusion else [])
    with torch.no_grad():
        targets = [true(x.double()).to(x) for _, true in pairs]
    optimizer = torch.optim.Adam([p for module, _ in pairs for p in module.parameters()], lr=lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, (lr_final / lr) ** (1 / max(steps, 1)))
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        rows = torch.randint(len(x), (min(batch, len(x)),), generator=generator)
        loss = sum((module(x[rows]) - target[rows]).square().mean() for (module, _), target in zip(pairs, targets))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model


def supervised_drift_error(problem: InverseFokkerPlanck, steps: int = 3000, batch: int = 8192, lr: float = 1e-2,
                           lr_final: float = 3e-4, seed: int = 0) -> float:
    """The drift network's capacity: the run's (untrained) drift architecture fitted to the **true** drift
    (:func:`fit_to_truth`), its relative L2 error on the held-out samples. Far below the run's error: the network
    can represent f; the loss is what limits."""
    torch.manual_seed(seed)
    model = fit_to_truth(problem, problem.build_model(), steps, batch, lr, lr_final, seed, diffusion=False)
    return problem.coefficient_errors(model)["drift_rel_l2"]


def warm_start(problem: InverseFokkerPlanck, lr: float, steps: int, supervised_steps: int = 3000,
               every: int = 250, tests: int = 512, seed: int = 0) -> dict:
    """Whether the run's loss holds the truth: f and g first fitted to the true coefficients
    (:func:`fit_to_truth`), then trained on the run's own loss and Adam stage (``hodphys.train.optimizers.adam``,
    ``lr`` → the config's ``lr_final`` (if lower) over ``steps``, fresh points every step). A loss that pins the
    coefficients keeps them near the truth; one that is flat, or lower elsewhere, lets them wander off at no cost
    in loss (``weak_loss_ratio`` ≤ 1 with a large drift error). The coefficient errors every ``every``
    steps, and the full weak loss (:func:`full_weak_loss`) of the end point against the truth's."""
    if not 0 < lr < math.inf:
        raise ValueError(f"warm_start: expected a positive finite learning rate, got lr={lr}")
    check_integers("warm_start", 1, steps=steps, every=every)
    torch.manual_seed(seed)
    model = fit_to_truth(problem, problem.build_model(), supervised_steps, seed=seed)
    result = dict(lr=lr, steps=steps, start=problem.coefficient_errors(model), trace=[])
    config = copy.deepcopy(problem.config)
    config.lr, config.lr_final, config.adam_steps = lr, min(lr, config.lr_final), steps
    optimizer, schedule = adam(list(model.parameters()), config)
    sampler = torch.Generator().manual_seed(seed + 1)
    for step in range(1, steps + 1):
        loss, _ = problem.loss(model, problem.sample(sampler, config.n_interior))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % every == 0 or step == steps:
            result["trace"].append(dict(step=step, **problem.coefficient_errors(model)))
    result["end"] = {key: value for key, value in result["trace"][-1].items() if key != "step"}  # the last step's
    if problem.config.residual == "weak":
        truth = problem.truth
        learned = full_weak_loss(problem, model.drift, model.diffusion, tests)
        result["weak_loss_ratio"] = learned / full_weak_loss(problem, truth.drift, truth.diffusion, tests)
    return result


class FullBatchLoss:
    """The full weak loss mean w R² over every sample (the bank's test functions ``chosen``) as a deterministic
    function of (f, g) for a full-batch optimiser. The test functions' ∇φ and ½ diag ∇²φ at every sample are
    computed once, per snapshot k as (M, n_k·d) matrices G_k, H_k, so E_k[Lφ] = (G_k f + H_k a) / n_k is two GEMVs
    (f, a = g² flattened, the networks' dtype); R and the loss in float64, divided by ``scale``. Memory:
    2 · M · N · d numbers (N samples in all): 2.6 GB at M = 256, 16 × 40 000 samples, d = 2, float32."""

    def __init__(self, problem: InverseFokkerPlanck, chosen: slice, scale: float = 1.0):
        tests = GaussianTests(problem.tests.centres[chosen], problem.tests.precisions[chosen])
        self.problem, self.scale = problem, scale
        self.means = problem.test_means[:, chosen].double()
        self.weights = 1.0 if problem.test_weights is None else problem.test_weights[:, chosen].double()
        self.terms = []  # (G_k, H_k)
        with torch.no_grad():
            for x in problem.samples:
                first, second = zip(*[gaussian_terms(tests, part)[1:] for part in x.split(4096)])
                self.terms.append(tuple(torch.cat(parts).permute(1, 0, 2).flatten(1) * factor
                                        for parts, factor in ((first, 1.0), (second, 0.5))))

    def generators(self, drift: nn.Module, diffusion: nn.Module, k: int) -> Tensor:
        """E_k[Lφ_m] (M,) over every sample of snapshot k."""
        x, (first, second) = self.problem.samples[k], self.terms[k]
        return (first @ drift(x).flatten() + second @ diffusion(x).square().flatten()) / len(x)

    def of_generators(self, generators: Tensor) -> Tensor:
        """The loss from E_k[Lφ] (T, M)."""
        config = self.problem.config
        residual = pairwise_residual(self.problem.data.times.double(), self.means, generators.double(),
                                     config.weak_span)
        return (self.weights * residual.square()).mean() / self.scale

    def every_generator(self, drift: nn.Module, diffusion: nn.Module) -> Tensor:
        """E_k[Lφ_m] (T, M) of every snapshot, without a graph."""
        with torch.no_grad():
            return torch.stack([self.generators(drift, diffusion, k) for k in range(len(self.terms))])

    def __call__(self, drift: nn.Module, diffusion: nn.Module) -> float:
        return float(self.of_generators(self.every_generator(drift, diffusion)))

    def backward(self, drift: nn.Module, diffusion: nn.Module) -> Tensor:
        """The loss, its gradient accumulated into the networks' parameters snapshot by snapshot (no graph over
        every sample at once: the loss is a function of the (T, M) generator means, whose gradient comes first)."""
        generators = self.every_generator(drift, diffusion).double().requires_grad_(True)
        value = self.of_generators(generators)
        (upstream,) = torch.autograd.grad(value, generators)
        for k in range(len(self.terms)):
            self.generators(drift, diffusion, k).backward(upstream[k].to(self.terms[k][0].dtype))
        return value.detach()


def full_batch(problem: InverseFokkerPlanck, model: SDEModel, iterations: int, tests: int = 256, every: int = 10
               ) -> dict:
    """Whether a deterministic optimiser finds what Adam's noisy steps miss: L-BFGS (strong Wolfe) on the full
    weak loss over every sample (:class:`FullBatchLoss`, the bank's first ``tests`` functions, divided by the
    truth's so that it is ≈ 1 and L-BFGS's absolute tolerances mean something), from ``model`` (trained in
    place). Every ``every`` iterations: the coefficient errors and the loss / the truth's; at the end also the
    loss / the truth's on the next ``tests`` functions of the bank, which the fit did not see."""
    check_integers("full_batch", 1, iterations=iterations, tests=tests, every=every)
    if problem.config.residual != "weak" or 2 * tests > problem.config.test_bank:
        raise ValueError(f"full_batch: expected a run with the weak residual and a bank of ≥ 2 · tests = {2 * tests} "
                         f"test functions, got residual={problem.config.residual!r}, "
                         f"test_bank={problem.config.test_bank}")
    truth = problem.truth
    loss = FullBatchLoss(problem, slice(0, tests))
    loss.scale = loss(truth.drift, truth.diffusion)
    params = [p for module in (model.drift, model.diffusion) for p in module.parameters()]
    optimizer = torch.optim.LBFGS(params, lr=1, max_iter=every, max_eval=2 * every, history_size=50,
                                  line_search_fn="strong_wolfe", tolerance_grad=0, tolerance_change=1e-14)

    def closure() -> Tensor:
        optimizer.zero_grad()
        return loss.backward(model.drift, model.diffusion)

    result = dict(iterations=iterations, tests=tests, start=dict(loss_ratio=loss(model.drift, model.diffusion),
                                                                 **problem.coefficient_errors(model)), trace=[])
    for done in range(every, iterations + every, every):
        optimizer.param_groups[0]["max_iter"] = min(every, iterations - done + every)
        optimizer.step(closure)
        result["trace"].append(dict(iteration=min(done, iterations), loss_ratio=loss(model.drift, model.diffusion),
                                    **problem.coefficient_errors(model)))
    unseen = FullBatchLoss(problem, slice(tests, 2 * tests))
    result["end"] = {key: value for key, value in result["trace"][-1].items() if key != "iteration"}
    result["end"]["unseen_loss_ratio"] = (unseen(model.drift, model.diffusion)
                                          / unseen(truth.drift, truth.diffusion))
    return result


SUBSTEPS = 4  # the visibility's time grid: the observed times and SUBSTEPS − 1 times between each pair


def _generator_gap(truth: DoubleWell | OrnsteinUhlenbeck, model: SDEModel, x: Tensor, t: float, tests: GaussianTests,
                   chunk: int = 64) -> Tensor:
    """V = E[L φ] − E[L̂ φ] = E[L_δ φ] (M,) over the true samples x (N, d) at time t, with δf = f − f̂ and
    δa = a − â (the generator is linear in them); the test functions in chunks of ``chunk`` (each chunk's ∇φ,
    diag ∇²φ are (N, chunk, d))."""
    times = torch.full((len(x),), t, dtype=x.dtype)
    drift_gap = evaluate(truth.drift, x, times) - evaluate(model.drift, x, times)
    diffusion_gap = evaluate(truth.diffusion, x, times).square() - evaluate(model.diffusion, x, times).square()
    return torch.cat([generator_of(drift_gap, diffusion_gap, x, GaussianTests(centres, precisions)).mean(0)
                      for centres, precisions in zip(tests.centres.split(chunk), tests.precisions.split(chunk))])


def visibility(problem: InverseFokkerPlanck, model: SDEModel, paths: int = 30000,
               widths: tuple[float, ...] = (0.1, 0.2, 0.4), spacing: float = 0.125, seed: int = 0) -> dict[str, dict]:
    """χ²(φ) of the module docstring for Gaussians of x₁, x₂ of each width (absolute) with centres on a grid of
    ``spacing`` over the true paths' 0.1–99.9 % range ± 2 widths; ``paths`` true paths, float64."""
    config, truth = problem.config, problem.truth
    observed = problem.data.times.double()
    fine = torch.cat([torch.linspace(float(a), float(b), SUBSTEPS + 1, dtype=torch.float64)[:-1]
                      for a, b in zip(observed[:-1], observed[1:])] + [observed[-1:]])
    x0 = truth.initial(paths, torch.Generator().manual_seed(seed))
    learned = SDEModel(copy.deepcopy(model.drift).double(), copy.deepcopy(model.diffusion).double(), nn.Identity())
    with torch.no_grad():
        x = sample_paths(truth.drift, truth.diffusion, x0, fine, method="srk", dt=config.simulation_dt, seed=seed)
    d, n = x.shape[-1], config.n_per_time
    low, high = (torch.quantile(x[..., :2].reshape(-1, 2), q, dim=0) for q in (0.001, 0.999))
    result = {}
    for width in widths:
        axes = [torch.arange(float(lo) - 2 * width, float(hi) + 2 * width + 1e-9, spacing, dtype=torch.float64)
                for lo, hi in zip(low, high)]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)  # (M, 2)
        centres = torch.zeros(len(grid), d, dtype=torch.float64)
        centres[:, :2] = grid
        precisions = torch.zeros_like(centres)
        precisions[:, :2] = 1 / width**2  # φ depends on x₁, x₂ only
        tests = GaussianTests(centres, precisions)
        with torch.no_grad():
            signal = torch.stack([_generator_gap(truth, learned, xt, float(t), tests) for xt, t in zip(x, fine)])
        mean, variance = snapshot_moments(list(x[::SUBSTEPS]), tests)  # (T, M): at the observed times
        variance = variance * paths / n  # the sampling variance of a mean over the run's n samples
        chi2 = torch.zeros(len(grid), dtype=torch.float64)
        for k in range(len(observed) - 1):
            rows = slice(SUBSTEPS * k, SUBSTEPS * (k + 1) + 1)
            pair_signal = torch.trapezoid(signal[rows], fine[rows], dim=0)
            seen = n * (mean[k] + mean[k + 1]) / 2 >= 3  # fewer than 3 expected samples under φ: nothing to see
            chi2 += torch.where(seen, pair_signal.square() / (variance[k] + variance[k + 1]).clamp(min=1e-300), 0.0)
        best = int(chi2.argmax())
        columns = chi2.reshape(len(axes[0]), len(axes[1])).amax(1)
        result[f"{width:g}"] = dict(max_chi2=float(chi2[best]), at=[round(float(c), 3) for c in grid[best]],
                                    max_chi2_by_x1={f"{float(c):.3f}": round(float(v), 1)
                                                    for c, v in zip(axes[0], columns)})
    return result


def diagnose(run_dir: str | Path, tests: int = 512, supervised_steps: int = 3000, visible: bool = False,
             warm_lrs: tuple[float, ...] = (), warm_steps: int | None = None, full_iterations: int = 0,
             full_tests: int = 256) -> dict:
    """The diagnostics of the module docstring for one run directory (``supervised_steps`` = 0: no capacity fit;
    ``visible``: (4) too; each of ``warm_lrs``: (5), ``warm_steps`` steps, default the run's ``adam_steps``;
    ``full_iterations`` > 0: (6) over ``full_tests`` test functions)."""
    check_integers("sde_diagnose", 0, full_iterations=full_iterations)
    check_integers("sde_diagnose", 1, full_tests=full_tests)
    problem, model = load_run(run_dir)
    if full_iterations and 2 * full_tests > problem.config.test_bank:
        raise ValueError(f"sde_diagnose: --full-batch-tests {full_tests} needs a bank of ≥ {2 * full_tests} test "
                         f"functions (half fitted, half unseen); the run has {problem.config.test_bank}")
    steps = problem.config.adam_steps if warm_steps is None else warm_steps
    if warm_lrs and steps < 1:  # before the minutes of the other diagnostics
        raise ValueError(f"sde_diagnose: the warm starts need ≥ 1 step; the run trained {steps} (pass --warm-steps)")
    truth = problem.truth
    losses = {name: full_weak_loss(problem, f, g, tests)
              for name, (f, g) in {"learned": (model.drift, model.diffusion),
                                   "true": (truth.drift, truth.diffusion)}.items()}
    result = dict(weak_loss=losses, weak_loss_ratio=losses["learned"] / losses["true"], tests=tests,
                  drift_bands=drift_bands(problem, model.drift))
    if supervised_steps > 0:
        result["supervised_drift_rel_l2"] = supervised_drift_error(problem, supervised_steps)
    if visible:
        result["visibility"] = visibility(problem, model)
    if warm_lrs:
        result["warm_start"] = [warm_start(problem, lr, steps, supervised_steps or 3000, tests=tests)
                                for lr in warm_lrs]
    if full_iterations:
        torch.manual_seed(0)
        from_truth = fit_to_truth(problem, problem.build_model(), supervised_steps or 3000)
        result["full_batch"] = {name: full_batch(problem, start, full_iterations, full_tests)
                                for name, start in (("from_run", model), ("from_truth", from_truth))}
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--tests", type=int, default=512, help="test functions of the bank (the first ones)")
    parser.add_argument("--supervised-steps", type=int, default=3000,
                        help="Adam steps of the capacity fit to the true drift (0: skip it)")
    parser.add_argument("--visibility", action="store_true",
                        help="the evidence χ² any Gaussian test function holds against the learned coefficients")
    parser.add_argument("--warm-start", type=float, nargs="+", default=(), metavar="LR",
                        help="start f, g at the truth (fitted in --supervised-steps steps, 3000 if that is 0) and "
                             "train on the run's loss from each of these rates")
    parser.add_argument("--warm-steps", type=int, default=None, help="steps of each warm start (default: the run's)")
    parser.add_argument("--full-batch", type=int, default=0, metavar="ITERATIONS",
                        help="L-BFGS on the full weak loss from the run's coefficients and from the truth")
    parser.add_argument("--full-batch-tests", type=int, default=256, metavar="M",
                        help="test functions of the full-batch loss (the next M of the bank score the end points)")
    args = parser.parse_args(argv)
    if any(not 0 < lr < math.inf for lr in args.warm_start):
        parser.error(f"--warm-start: expected positive finite learning rates, got {args.warm_start}")
    if args.warm_steps is not None and args.warm_steps < 1:
        parser.error(f"--warm-steps: expected at least 1 step, got {args.warm_steps}")
    if args.full_batch < 0 or args.full_batch_tests < 1:
        parser.error(f"--full-batch, --full-batch-tests: expected ≥ 0 iterations and ≥ 1 test function, "
                     f"got {args.full_batch}, {args.full_batch_tests}")
    torch.set_num_threads(1)
    print(json.dumps(diagnose(args.run_dir, args.tests, args.supervised_steps, args.visibility,
                              tuple(args.warm_start), args.warm_steps, args.full_batch, args.full_batch_tests),
                     indent=1))


if __name__ == "__main__":
    main()
