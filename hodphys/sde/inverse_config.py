"""The inverse problem's settings: :class:`InverseConfig`, the defaults of each built-in ground truth
(:data:`PROCESS_DEFAULTS`), the checks that run before any data is simulated, and the ground truth itself."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any  # Optional: the settings parser reads typing.Union

import torch
from torch import Tensor

from hodphys.checks import check_integers
from hodphys.errors import InputError
from hodphys.memory_limit import check_bytes, format_bytes
from hodphys.sde.fokker_planck import FORMS
from hodphys.sde.processes import DoubleWell, OrnsteinUhlenbeck
from hodphys.sde.snapshots import check_snapshots
from hodphys.train import TrainConfig
from hodphys.train.config import check_positive, dtype_of, validate

DENSITIES = ("mixture", "cnf")
RESIDUALS = ("weak", "strong")
WEAK_WEIGHTS = ("inverse-variance", "none")

# What works for each built-in ground truth (measured, docs/sde.md), used where the config leaves it None.
# Double well: the weak residual (the mixture's ∂_t p is 21–55 % off, the strong residual feeds it to f and g),
# tanh (softplus learns the cubic drift slowly), a snapshot every 0.1 (the start at the barrier grows like
# e^{4t}; with 5 snapshots even an exact-family fit misses f by ≈ 50 %), 10 000 samples a snapshot seen through
# two minibatches of 512 (unbiased; the step costs what 1000 samples over every sample cost): a flexible fit is
# variance limited (the generic-family floor falls like n^−0.3), and this took f / g / single-draw MMD ratio from
# 0.571 / 0.237 / 5.9 (1000, every sample) to 0.440 / 0.193 / 3.1 (with every pair of snapshots instead of
# consecutive ones g collapses, minibatches or not); the fit was still improving: 3000 Adam steps from lr 1e-2
# (with the inverse-variance row weights) take it to 0.26 / 0.08, 0.31 / 0.10 with another training seed (2000
# steps from 3e-3: 0.38; from 3e-2: 0.43; 6000 steps: 0.37, g drifting).
# OU: the density is Gaussian at every time, a one-component mixture is exact, and the strong residual with its
# dimension-wise derivatives is the better estimator (0.089 / 0.077 vs 0.215 / 0.231 for the weak one).
PROCESS_DEFAULTS: dict[str, dict[str, Any]] = {
    "double-well": dict(residual="weak", activation="tanh", times=[round(0.1 * k, 1) for k in range(16)],
                        n_per_time=10000, weak_batch=512, adam_steps=3000, lr=1e-2),
    "ornstein-uhlenbeck": dict(residual="strong", activation="softplus", times=[0.0, 0.25, 0.5, 1.0, 1.5],
                               n_per_time=1000, weak_batch=0, adam_steps=1000, lr=3e-3),
}


@dataclass
class InverseConfig(TrainConfig):
    """The true SDE (``process``: the double well or an OU process), the data, the models, the loss."""

    dim: int = 2
    process: str = "double-well"  # the ground truth: "double-well" or "ornstein-uhlenbeck" (see ground_truth)
    rotation: float = 1.0  # ω of the rotational drift
    sigma: float = 0.5  # g_i = σ (1 + ½ tanh x_i)
    initial_spread: float = 0.3  # the double well's x(0) ~ N((0, 0.5, 0, …), s₀² I): s₀
    activation: str | None = None  # the HollowNets' activation; None: the process's (PROCESS_DEFAULTS)
    times: list[float] = field(default_factory=list)  # observed times; empty: the process's (PROCESS_DEFAULTS)
    held_out_times: list[float] = field(default_factory=lambda: [0.75])  # only for evaluation
    n_per_time: int | None = None  # training samples per snapshot; None: the process's (PROCESS_DEFAULTS)
    n_held_out: int = 1000  # held-out and reference samples per evaluation time (and learned-SDE samples)
    # the MMD yardstick: the mean MMD of K independent true sample sets (n_held_out each) to the held-out set, per
    # evaluation time (one set's MMD is a single noisy draw: it varied 4× across the double well's times)
    n_reference_sets: int = 8
    data_seed: int = 2024
    simulation_dt: float = 5e-3  # Euler–Maruyama step of the data and of the learned SDE's samples
    density: str = "mixture"  # "mixture" or "cnf" (time-conditioned CNF: exact, ≈ 50–100× dearer a step)
    components: int = 0  # Gaussian mixture components of the density; 0: chosen by held-out likelihood
    component_candidates: list[int] = field(default_factory=lambda: [1, 2, 4, 8])  # for components = 0
    selection_steps: int = 300  # Adam steps of each candidate mixture
    flow_steps: int = 4  # rk4 steps of the CNF density
    min_scale: float = 0.1  # σ_min of every component (smooth ∇²s)
    hollow_width: int = 32  # width of the HollowNets' conditioner and transformer MLPs
    hidden_features: int = 8  # c, the size of each h_i
    residual: str | None = None  # "weak": tested on the snapshots (hodphys.sde.weak_form); "strong": at points
    # of p; None: the process's (PROCESS_DEFAULTS)
    test_functions: int = 64  # Gaussian test functions per step (weak residual), drawn from a bank of
    test_bank: int = 4096  # test functions drawn once, their means over every sample computed once
    test_widths: list[float] = field(default_factory=lambda: [0.2, 0.4, 0.8])  # × the data's std per coordinate
    test_jitter: float = 0.0  # centres = data points + test_jitter · width · N(0, I) (0: at data points)
    test_coordinates: int = 2  # coordinates each test function depends on (a Gaussian of all d vanishes in 8-D)
    # weak_span = 1: every pair has the lower exact-family floor, but the HollowNets' g collapses with it, over
    # minibatches (0.73 / 0.87 in drift / diffusion) and over every sample alike (0.72 / 0.91 at step 750; docs/sde.md)
    weak_span: int = 1  # weak residual between snapshots t_j < t_k with k − j ≤ weak_span (0: every pair)
    # "inverse-variance": each row R_jkm weighted by 1 / (Var E_j[φ_m] + Var E_k[φ_m]) (weak_form.pair_weights);
    # "none": every row alike, which weights a region by its mass² and leaves the emptier well unfitted
    weak_weights: str = "inverse-variance"
    weak_batch: int | None = None  # samples per snapshot in each of two minibatches of E[Lφ] (unbiased R²);
    # 0: every sample; None: the process's (PROCESS_DEFAULTS)
    nll_batch: int = 8192  # data points of the likelihood per step (all of them when there are fewer)
    fp_weight: float = 1.0
    form: str = "log"  # the residual's form: "log" (r/p) or "plain" (r, i.e. weighted by p)
    fp_trains_density: bool = False  # let the residual's gradient reach the density too (it can then cheat:
    # a density that stops moving and f = g = 0 make the residual small)
    n_interior: int = 256  # collocation points per step
    adam_steps: int | None = None  # None: the process's (PROCESS_DEFAULTS)
    lr: float | None = None  # None: the process's (PROCESS_DEFAULTS)
    lr_final: float = 3e-4
    optimizer: str = "none"
    eval_every: int = 1000  # each evaluation samples the learned SDE (seconds)
    checkpoint_every: int = 500
    grid_size: int = 41

    def __post_init__(self):
        """Every key left None (``times``: empty) takes its process's value in :data:`PROCESS_DEFAULTS` (so the
        saved config shows what ran)."""
        if self.process not in PROCESS_DEFAULTS:
            raise InputError(f"config key 'process': expected one of {list(PROCESS_DEFAULTS)}, got {self.process!r}")
        for key, value in PROCESS_DEFAULTS[self.process].items():
            if getattr(self, key) in (None, []):
                setattr(self, key, list(value) if isinstance(value, list) else value)


def ground_truth(config: InverseConfig) -> DoubleWell | OrnsteinUhlenbeck:
    """The SDE whose snapshots are fitted: :class:`DoubleWell` (default) or an OU process whose odd / even
    coordinates have θ = 1 / 0.5, σ = 0.8 / 0.6, x(0) ~ N(1.5, 0.2) / N(−1, 0.3) (Gaussian at every time)."""
    if config.process == "double-well":
        return DoubleWell(config.dim, config.rotation, config.sigma, config.initial_spread)
    pattern = [(1.0, 0.8, 1.5, 0.2), (0.5, 0.6, -1.0, 0.3)]  # θ, σ, mean₀, var₀ of odd and even coordinates
    theta, sigma, mean0, var0 = zip(*(pattern[i % 2] for i in range(config.dim)))
    return OrnsteinUhlenbeck(theta, sigma, mean0, var0, d=config.dim)


def evaluation_times(config: InverseConfig) -> tuple[Tensor, list[float]]:
    """The observed times (strictly increasing, ≥ 0) and the evaluation times: every observed time after the
    first and every held-out one, sorted; ValueError if a held-out time is outside (t_0, t_last]."""
    try:
        times = check_snapshots(config.times, [torch.zeros(2, config.dim)] * len(config.times)).times
    except ValueError as err:
        raise ValueError(f"config key 'times': {err}") from None
    eval_times = sorted({*times[1:].tolist(), *config.held_out_times})
    if min(eval_times) <= times[0] or max(eval_times) > times[-1]:
        raise ValueError(f"config key 'held_out_times': expected times in ({times[0]:g}, {times[-1]:g}], "
                         f"got {config.held_out_times}")
    return times, eval_times


def data_bytes(config: InverseConfig) -> dict[str, int]:
    """Lower bounds of the inverse problem's largest allocations, by phase (bytes; T observed and E evaluation
    times, n = n_per_time, float64 paths, the config's dtype elsewhere). The phases run one after another, on
    top of the snapshots kept for training (T·n·d, twice: per snapshot and pooled):

        simulation   the torchsde paths of the training data: T·n particles at T (+ 1) times, T²·n·d·8
        held-out     the held-out and first reference sets: 2·n_held_out·E particles at E (+ 1) times
        test bank    E_k[φ] over the bank, 8192 samples a chunk: φ and φ² of (8192, test_bank)
        step         the weak residual's φ, ∇φ, diag ∇²φ at the step's points: 5 · points · test_functions · d
    """
    t, e, d, n = len(config.times), len(evaluation_times(config)[1]), config.dim, config.n_per_time
    item = dtype_of(config).itemsize
    points = t * (2 * config.weak_batch if config.weak_batch else n)
    return {"kept": 2 * t * n * d * item, "simulation": (t + 1) * t * n * d * 8,
            "held-out": (e + 1) * 2 * config.n_held_out * e * d * 8,
            "test bank": 2 * min(8192, n) * config.test_bank * item,
            "step": 5 * points * config.test_functions * d * item if config.residual == "weak" else 0}


def check_config(config: InverseConfig) -> None:
    """ValueError naming the key, before anything is simulated or trained (and before ``hodphys run`` writes)."""
    validate(config)
    if config.form not in FORMS:
        raise ValueError(f"config key 'form': expected one of {list(FORMS)}, got {config.form!r}")
    if config.residual not in RESIDUALS:
        raise ValueError(f"config key 'residual': expected one of {list(RESIDUALS)}, got {config.residual!r}")
    if config.weak_weights not in WEAK_WEIGHTS:
        raise ValueError(f"config key 'weak_weights': expected one of {list(WEAK_WEIGHTS)}, "
                         f"got {config.weak_weights!r}")
    if config.density not in DENSITIES:
        raise ValueError(f"config key 'density': expected one of {list(DENSITIES)}, got {config.density!r}")
    sizes = (config.n_per_time, config.n_held_out, config.weak_batch or 2, config.nll_batch, config.test_bank)
    if config.dim < 2 or min(sizes) < 2 or config.components < 0 or not config.fp_weight >= 0:
        raise ValueError(f"InverseConfig: expected dim ≥ 2, n_per_time, n_held_out, weak_batch (or 0), "
                         f"nll_batch, test_bank ≥ 2, components ≥ 0, fp_weight ≥ 0, got {config.dim}, {sizes}, "
                         f"{config.components}, {config.fp_weight}")
    check_positive(config, "initial_spread", "sigma", "simulation_dt")
    check_positive(config, "min_scale", allow_zero=True)
    if not math.isfinite(config.rotation):
        raise ValueError(f"config key 'rotation': expected a finite ω, got {config.rotation}")
    counts = {key: getattr(config, key) for key in ("hollow_width", "hidden_features", "selection_steps",
                                                     "flow_steps", "n_interior")}
    for key, value in counts.items():
        check_integers(f"config key {key!r}", 1, value=value)
    check_integers("config key 'weak_span'", 0, value=config.weak_span)
    if not config.component_candidates or min(config.component_candidates) < 1:
        raise ValueError(f"config key 'component_candidates': expected a non-empty list of counts ≥ 1, "
                         f"got {config.component_candidates}")
    if not config.test_widths or not all(0 < w < math.inf for w in config.test_widths):
        raise ValueError(f"config key 'test_widths': expected a non-empty list of positive widths, "
                         f"got {config.test_widths}")
    if not 0 <= config.test_jitter < math.inf:
        raise ValueError(f"config key 'test_jitter': expected a finite value ≥ 0, got {config.test_jitter}")
    if not 1 <= config.test_coordinates <= config.dim:
        raise ValueError(f"config key 'test_coordinates': expected 1 ≤ test_coordinates ≤ dim = {config.dim}, "
                         f"got {config.test_coordinates}")
    if config.n_reference_sets < 2:
        raise ValueError(f"config key 'n_reference_sets': expected ≥ 2 independent reference sets (the MMD "
                         f"yardstick's mean and standard deviation), got {config.n_reference_sets}")
    if not 1 <= config.test_functions <= config.test_bank:
        raise ValueError(f"config key 'test_functions': expected 1 ≤ test_functions ≤ test_bank = "
                         f"{config.test_bank}, got {config.test_functions}")
    evaluation_times(config)
    phases = data_bytes(config)
    largest = max((key for key in phases if key != "kept"), key=phases.get)
    check_bytes(phases["kept"] + phases[largest], f"the SDE data of n_per_time={config.n_per_time}, "
                f"n_held_out={config.n_held_out}, test_bank={config.test_bank} ({len(config.times)} times, dim="
                f"{config.dim})", "lower n_per_time, n_held_out or test_bank",
                detail=f"the snapshots ({format_bytes(phases['kept'])}) and the {largest} phase "
                       f"({format_bytes(phases[largest])}), hodphys.sde.inverse_config.data_bytes")
