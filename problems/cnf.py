"""Continuous normalizing flow (FFJORD) with the exact one-pass HollowNet divergence.

    hodphys run cnf                                   # pinwheel, ≤ 5 min on 2 CPU cores
    hodphys run cnf --set dataset=checkerboard --set trace=hutchinson
    hodphys run cnf --set dataset=digits --set adam_steps=2000        # needs scikit-learn
    torchrun --nproc_per_node=2 -m hodphys run cnf                    # data parallel

dz/dt = f(z, t) with f a time-conditioned HollowNet, log p(x) = log N(z(1)) + ∫ div f dt, trained
by Adam on minibatches of ``n_interior`` samples (fresh samples of the toy density every step,
digits rows with fresh dequantisation) with the ``trace`` estimator and the RNODE regularisers.
Evaluation always uses the exact trace with dopri5 at ``eval_atol``/``eval_rtol``.

Writes: plots/density.png (data | learned density | samples; digits: digits.png), plots/loss.png
(training and validation NLL), plots/nfe.png (NFE forward/backward over training), model.pt,
metrics.json (test NLL in nats, NFE, seconds per iteration, density mass on the grid).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hodphys.flows import (CNF, DATASETS, ESTIMATORS, JACOBIAN_FRACTION, NOISES, ODEOptions, flow_dataset,
                           hollow_dynamics)
from hodphys.flows.evaluation import grid_density, log_likelihood
from hodphys.flows.figures import plot_density, plot_digits, plot_training
from hodphys.memory_limit import check_bytes
from hodphys.train import TrainConfig, solve
from hodphys.train.config import check_positive, dtype_of

NAME = "cnf"
DESCRIPTION = "Continuous normalizing flow, exact HollowNet divergence (2-D toys or 8x8 digits)"


@dataclass
class Config(TrainConfig):
    dataset: str = "pinwheel"  # 8gaussians, pinwheel, checkerboard, 2spirals, moons, circles, swissroll, digits
    trace: str = "exact"  # training trace estimator: exact, hutchinson, brute
    noise: str = "rademacher"  # Hutchinson's probe (and the Jacobian regulariser's): rademacher, gaussian
    hidden_features: int = 8  # HollowNet: size of each conditioner output h_i
    width: int = 32  # HollowNet: width of the conditioner and transformer MLPs
    depth: int = 2  # HollowNet: hidden layers of each
    activation: str = "softplus"
    threads: int = 1  # small per-step tensors: a second intra-op thread costs more in syncing than it gains
    t1: float = 1.0  # the flow runs from t = 0 (data) to t1 (base N(0, I))
    # training ODE: torchdiffeq's rk4 with 2 steps (8 evaluations a solve) learned pinwheel to a lower
    # exact test NLL per CPU second than dopri5 (whose NFE grows to 40+) or rk4 with 1 or 4 steps; the
    # RNODE terms (λ = 0.1) keep f smooth enough that rk4's flow is the ODE's (test NLL by rk4 and by
    # dopri5 at 1e-5 agreed to 0.004 nats; with λ = 0.01 they drifted 0.1 apart)
    method: str = "rk4"  # torchdiffeq method for training: rk4, midpoint, … (steps) or dopri5, … (atol/rtol)
    atol: float = 1e-4
    rtol: float = 1e-4
    steps: int = 2  # fixed-step methods: steps over [0, t1]
    adjoint: bool = False
    kinetic: float = 0.1  # RNODE λ_K
    jacobian: float = 0.1  # RNODE λ_J
    # the λ_J integrand ‖εᵀ∂f/∂z‖² at a random share of the rk4 evaluations, weighted 1/share (unbiased,
    # the same draws for every trace): the exact trace pays the conditioner's backward pass there only
    jacobian_fraction: float = JACOBIAN_FRACTION
    eval_atol: float = 1e-5  # exact evaluation (validation, test, grid, samples): dopri5 tolerances
    eval_rtol: float = 1e-5
    n_interior: int = 256  # minibatch size (split across torchrun ranks)
    n_validation: int = 1000  # toys: validation points (NLL every eval_every steps)
    n_test: int = 5000  # toys: test points
    n_samples: int = 20000  # samples drawn for the picture
    grid_extent: float = 5.0  # density grid: [−extent, extent]²
    grid_size: int = 160  # density grid: cells per axis
    adam_steps: int = 1500
    lr: float = 1e-2
    lr_final: float = 1e-3
    optimizer: str = "none"
    checkpoint_every: int = 100
    log_every: int = 5
    eval_every: int = 250

    RESUME_MAY_CHANGE = TrainConfig.RESUME_MAY_CHANGE | {"n_samples", "grid_extent", "n_test"}


def check(config: Config) -> None:
    """Unknown names and impossible values → ValueError naming the key, before the run directory is made."""
    for key, allowed in (("dataset", DATASETS), ("trace", tuple(ESTIMATORS)), ("noise", NOISES)):
        if getattr(config, key) not in allowed:
            raise ValueError(f"config key {key!r}: expected one of {list(allowed)}, got {getattr(config, key)!r}")
    for key in ("hidden_features", "width", "depth", "steps", "n_validation", "n_test", "n_samples"):
        if getattr(config, key) < 1:
            raise ValueError(f"config key {key!r}: expected an integer ≥ 1, got {getattr(config, key)}")
    check_positive(config, "grid_extent", "t1", "atol", "rtol", "eval_atol", "eval_rtol")
    check_positive(config, "kinetic", "jacobian", allow_zero=True)
    if not 0 < config.jacobian_fraction <= 1:
        raise ValueError(f"config key 'jacobian_fraction': expected a share in (0, 1], got {config.jacobian_fraction}")
    # the picture's samples go through one unchunked solve: 3 rows of the widest layer per sample (the convention
    # of hodphys.train.config.training_bytes); the validation and test points are kept as float64 (their
    # likelihoods are chunked)
    samples = 3 * config.n_samples * config.width * dtype_of(config).itemsize
    check_bytes(samples + (config.n_validation + config.n_test) * 2 * 8,
                f"cnf with n_samples={config.n_samples}, n_validation={config.n_validation}, n_test={config.n_test}",
                "lower n_samples, n_validation or n_test")


class CNFProblem:
    """The Trainer's problem: minibatches of the data set, the CNF's loss, exact NLL metrics, plots."""

    def __init__(self, config: Config):
        from hodphys.train.config import ACTIVATIONS, dtype_of, validate

        validate(config)
        check(config)
        self.config, self.dtype, self.device = config, dtype_of(config), torch.device("cpu")
        self.activation = ACTIVATIONS[config.activation]
        self.data = flow_dataset(config.dataset, config.seed, config.n_validation, config.n_test)
        self.flow_options = dict(trace=config.trace, noise=config.noise, t1=config.t1,
                                 kinetic=config.kinetic, jacobian=config.jacobian,
                                 jacobian_fraction=config.jacobian_fraction,
                                 ode=ODEOptions(config.method, config.atol, config.rtol, config.steps,
                                                config.adjoint))
        self.exact_ode = ODEOptions("dopri5", config.eval_atol, config.eval_rtol)
        self.flow_options["ode"].check("config")
        self.summary: dict[str, float] = {}

    def build_model(self) -> CNF:
        c = self.config
        net = hollow_dynamics(self.data.d, hidden_features=c.hidden_features, width=c.width, depth=c.depth,
                              activation=self.activation())
        return CNF(net, **self.flow_options).to(dtype=self.dtype, device=self.device)

    def sample(self, generator: torch.Generator, n: int) -> dict[str, Tensor]:
        return {"x": self.data.train_batch(generator, n).to(dtype=self.dtype, device=self.device)}

    def loss(self, model: CNF, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        return model.loss(batch["x"])

    def _exact(self, model: CNF) -> CNF:
        return model.with_options(trace="exact", ode=self.exact_ode)

    def _nll(self, model: CNF, x: Tensor) -> tuple[float, int]:
        """Mean NLL (nats, in the data's units: the standardisation's log-determinant included)."""
        likelihood = log_likelihood(self._exact(model), x.to(dtype=self.dtype, device=self.device))
        return -float(likelihood.log_prob.mean()) - self.data.log_det, likelihood.nfe

    def metrics(self, model: CNF) -> dict[str, float]:
        return {"val_nll": self._nll(model, self.data.validation)[0]}

    def write_outputs(self, model: CNF, run, stages: dict[str, list[int]] | None = None) -> list[Path]:
        """Test NLL (exact), the grid density and its mass, samples; the PNGs."""
        config, exact = self.config, self._exact(model)
        test_nll, test_nfe = self._nll(model, self.data.test)
        self.summary.update(test_nll=test_nll, nfe_test=test_nfe)
        with torch.no_grad():
            samples = self.data.to_data_space(exact.sample(config.n_samples, generator=torch.Generator()
                                                           .manual_seed(config.seed + 3))).double().cpu()
        written = _history_plots(run, config)
        if self.data.d == 2:
            grid = grid_density(exact, config.grid_extent, config.grid_size)
            self.summary["density_mass"] = grid.mass
            if config.plots:
                written.append(plot_density(
                    run.path("plots", "density.png"), self.data.test.numpy(), grid.grid_x.numpy(),
                    grid.grid_y.numpy(), grid.density.numpy(), samples.numpy(),
                    title=f"{config.dataset}: CNF, HollowNet dynamics, trained with the {config.trace} trace; "
                          f"test NLL {test_nll:.3f} nats, mass on the grid {grid.mass:.4f}"))
        elif config.plots and config.dataset == "digits":
            images = self.data.to_data_space(self.data.test).double() * 17
            written.append(plot_digits(run.path("plots", "digits.png"), images.numpy(), samples.numpy() * 17,
                                       title=f"digits: test images (top) and CNF samples (bottom); "
                                             f"test NLL {test_nll:.1f} nats"))
        return written


def _history(run) -> list[dict]:
    path = run.dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _series(history: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [(h["step"], h[key]) for h in history if key in h]
    return tuple(np.array(column, dtype=float) for column in zip(*rows)) if rows else (np.zeros(0), np.zeros(0))


def _history_plots(run, config: Config) -> list[Path]:
    if not config.plots:
        return []
    history = _history(run)
    title = f"{config.dataset}, {config.trace} trace, {config.method}"
    return [plot_training(run.path("plots", "loss.png"), {"training NLL (minibatch)": _series(history, "nll"),
                                                           "validation NLL (exact trace)": _series(history, "val_nll")},
                          "negative log-likelihood [nats]", title),
            plot_training(run.path("plots", "nfe.png"), {"forward": _series(history, "nfe_forward"),
                                                          "backward": _series(history, "nfe_backward")},
                          "function evaluations per step", title)]


def main(config: Config, run) -> dict:
    problem = CNFProblem(config)
    metrics = solve(problem, run)
    if not run.writer:
        return metrics
    history = _history(run)
    for key in ("nfe_forward", "nfe_backward"):
        values = _series(history, key)[1]
        metrics[f"{key}_mean"] = float(values.mean()) if len(values) else None
    metrics["seconds_per_iteration"] = metrics["train_seconds"] / max(metrics["steps"], 1)
    return metrics | problem.summary
