"""Where a fitted ``hodphys run fokker-planck`` run's drift error comes from: noise, optimiser or estimator.

    python -m hodphys.bench.studies.sde_diagnose RUN_DIR [--tests 512] [--supervised-steps 3000]

Prints, as JSON, (1) the weighted weak loss mean w R² over **every** sample of the run's snapshots (the first
``--tests`` test functions of its bank, the run's row weights, float64) of the learned and of the true (f, g):

* learned < true: the fit follows the snapshots' sampling noise; more steps make the coefficients worse;
* learned > true: it has not reached the data's optimum; better optimisation can still help;
* learned ≈ true with a large drift error: the loss cannot tell the two apart (identifiability);

and (2) the drift error by band of x₁ on the held-out samples: each band's share of the squared error and its
own relative error; and (3) the drift network's capacity: the same architecture fitted to the true drift by
least squares (``supervised_drift_rel_l2``). The run's data are simulated again from its config (same seeds:
the same samples).

Glossary: T snapshot times, M test functions, P pairs of times.
"""
from __future__ import annotations

import argparse
import copy
import json
import tomllib
from pathlib import Path

import torch
from torch import nn

from hodphys.sde.inverse import InverseFokkerPlanck, SDEModel
from hodphys.sde.inverse_config import InverseConfig
from hodphys.sde.weak_form import GaussianTests, weak_residual

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


def supervised_drift_error(problem: InverseFokkerPlanck, steps: int = 3000, batch: int = 8192, lr: float = 1e-2,
                           lr_final: float = 3e-4, seed: int = 0) -> float:
    """The drift network's capacity: the run's (untrained) drift architecture fitted to the **true** drift by mean
    squared error on the training samples (Adam, ``lr`` → ``lr_final`` exponentially), its relative L2 error on
    the held-out samples. Far below the run's error: the network can represent f; the loss is what limits."""
    torch.manual_seed(seed)
    drift, x = problem.build_model().drift, problem.pooled
    with torch.no_grad():
        target, support = problem.truth.drift(x.double()).to(x), problem.support()
        true_support = problem.truth.drift(support.double()).to(support)
    optimizer = torch.optim.Adam(drift.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, (lr_final / lr) ** (1 / max(steps, 1)))
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        rows = torch.randint(len(x), (min(batch, len(x)),), generator=generator)
        loss = (drift(x[rows]) - target[rows]).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        return float((drift(support) - true_support).norm() / true_support.norm())


def diagnose(run_dir: str | Path, tests: int = 512, supervised_steps: int = 3000) -> dict:
    """The diagnostics of the module docstring for one run directory (``supervised_steps`` = 0: no capacity fit)."""
    problem, model = load_run(run_dir)
    truth = problem.truth
    losses = {name: full_weak_loss(problem, f, g, tests)
              for name, (f, g) in {"learned": (model.drift, model.diffusion),
                                   "true": (truth.drift, truth.diffusion)}.items()}
    result = dict(weak_loss=losses, weak_loss_ratio=losses["learned"] / losses["true"], tests=tests,
                  drift_bands=drift_bands(problem, model.drift))
    if supervised_steps > 0:
        result["supervised_drift_rel_l2"] = supervised_drift_error(problem, supervised_steps)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--tests", type=int, default=512, help="test functions of the bank (the first ones)")
    parser.add_argument("--supervised-steps", type=int, default=3000,
                        help="Adam steps of the capacity fit to the true drift (0: skip it)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(json.dumps(diagnose(args.run_dir, args.tests, args.supervised_steps), indent=1))


if __name__ == "__main__":
    main()
