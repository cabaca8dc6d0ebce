"""Fitting a neural decoder's closure h: q ↦ z_{r+1..p} through hodphys.train (Adam → L-BFGS).

Index letters: T snapshots, p prefix size, r latent size, k = p − r closure outputs.

Training pairs come from the snapshots' prefix coordinates z_t = Uᵀ M (u_t − u₀): inputs
q_t = z_t[:r], targets z_t[r:]. Because U is M-orthonormal, the loss

    L = mean_t ‖h(q_t) − z_t[r:]‖² / mean_t ‖z_t[r:] − z̄‖²

is the squared M-norm displacement error of the decoder (relative), so the network is fitted in
the norm the dynamics uses. Inputs are standardised per coordinate, outputs by one common scale
(so that small high modes are not inflated); ``Normalisation`` is saved with the decoder.

    decoder = fit_neural_decoder(basis, snapshots, latent_dim=6, run=run,
                                 config=ClosureConfig(widths=[64, 64]))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hodphys.rom.basis import MassBasis, check_snapshots
from hodphys.rom.decoder import Decoder, Normalisation, closure_network
from hodphys.train import TrainConfig, solve


@dataclass
class ClosureConfig(TrainConfig):
    """The closure network and its two training stages (full batch, float64)."""

    dtype: str = "float64"
    widths: list[int] = field(default_factory=lambda: [64, 64])
    n_interior: int = 100_000          # rows per batch: all snapshots unless there are more
    resample_every: int = 0
    adam_steps: int = 2000
    lr: float = 3e-3
    lr_final: float = 1e-4
    optimizer_steps: int = 500
    eval_every: int = 500
    checkpoint_every: int = 500


def closure_pairs(basis: MassBasis, snapshots: np.ndarray, latent_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(q (T, r), closure targets (T, p − r)) of snapshots (T, n)."""
    z = basis.coordinates(check_snapshots(snapshots, basis.basis.shape[0]))
    return z[:, :latent_dim], z[:, latent_dim:]


def fitted_normalisation(latent: np.ndarray, targets: np.ndarray) -> Normalisation:
    """Per-coordinate input standardisation; one common output scale (the targets' RMS spread)."""
    per_coordinate = Normalisation.fit(latent, targets)
    common = float(np.sqrt(((targets - targets.mean(axis=0)) ** 2).sum(axis=1).mean()))
    return Normalisation(per_coordinate.q_shift, per_coordinate.q_scale, per_coordinate.h_shift,
                         np.full(targets.shape[1], max(common, 1e-300)))


class ClosureFit:
    """The Trainer's problem (see hodphys.train): regress normalised targets on normalised q."""

    def __init__(self, config: ClosureConfig, latent: np.ndarray, targets: np.ndarray,
                 validation: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.config, self.device = config, torch.device("cpu")
        self.normalisation = fitted_normalisation(latent, targets)
        self.inputs, self.outputs = self._normalised(latent, targets)
        self.validation = validation

    def _normalised(self, latent: np.ndarray, targets: np.ndarray) -> tuple[Tensor, Tensor]:
        norm = self.normalisation
        return (torch.from_numpy((latent - norm.q_shift) / norm.q_scale),
                torch.from_numpy((targets - norm.h_shift) / norm.h_scale))

    def build_model(self) -> nn.Module:
        return closure_network(self.inputs.shape[1], self.outputs.shape[1], self.config.widths,
                               activation_name(self.config.activation))

    def sample(self, generator: torch.Generator, n: int) -> dict[str, Tensor]:
        rows = self.inputs.shape[0]
        index = torch.arange(rows) if n >= rows else torch.randperm(rows, generator=generator)[:n]
        return {"latent": self.inputs[index], "target": self.outputs[index]}

    def loss(self, model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        error = ((model(batch["latent"]) - batch["target"]) ** 2).sum(dim=1).mean()
        return error, {"closure_mse": error.detach()}

    def metrics(self, model: nn.Module) -> dict[str, Any]:
        """Relative closure error ‖h(q) − z_k‖ / ‖z_k − z̄_k‖ (RMS over pairs, in the closure's own
        coordinates, which carry ~0.1 % of the displacement): ``rel_l2_mean`` on the validation
        pairs (the training pairs if none), ``training_rel_l2_mean`` on the training pairs."""
        out = {"rel_l2_mean": closure_error(model, self.inputs, self.outputs)}
        if self.validation is not None:
            out = {"rel_l2_mean": closure_error(model, *self._normalised(*self.validation)),
                   "training_rel_l2_mean": out["rel_l2_mean"]}
        return out

    def write_outputs(self, model: nn.Module, run: Any, stages: dict) -> list[Path]:
        return []


def closure_error(model: nn.Module, inputs: Tensor, outputs: Tensor) -> float:
    """RMS ‖model(inputs) − outputs‖ over the RMS spread of outputs about their mean."""
    with torch.no_grad():
        error = ((model(inputs) - outputs) ** 2).sum(dim=1).mean().sqrt()
        spread = (outputs - outputs.mean(dim=0)).pow(2).sum(dim=1).mean().sqrt()
    return float(error / spread)


def activation_name(name: str) -> str:
    """torch.nn class name of a TrainConfig activation ("tanh" → "Tanh")."""
    names = {"tanh": "Tanh", "softplus": "Softplus", "silu": "SiLU", "sigmoid": "Sigmoid", "elu": "ELU"}
    if name not in names:
        raise ValueError(f"neural decoder: activation {name!r} is not smooth enough or unknown; "
                         f"expected one of {sorted(names)}")
    return names[name]


def fit_neural_decoder(basis: MassBasis, snapshots: np.ndarray, latent_dim: int, run: Any,
                       config: ClosureConfig | None = None,
                       validation_snapshots: np.ndarray | None = None) -> tuple[Decoder, dict]:
    """Train the closure of u = u₀ + U [q; h(q)] on snapshots (T, n) in ``run`` (its Trainer,
    checkpoints and resume); returns the decoder and the training metrics."""
    config = ClosureConfig() if config is None else config
    if not 1 <= latent_dim < basis.size:
        raise ValueError(f"fit_neural_decoder: expected 1 ≤ latent_dim < the basis size {basis.size}, "
                         f"got {latent_dim}")
    latent, targets = closure_pairs(basis, snapshots, latent_dim)
    validation = None if validation_snapshots is None else closure_pairs(basis, validation_snapshots,
                                                                         latent_dim)
    problem = ClosureFit(config, latent, targets, validation)
    metrics = solve(problem, run)
    model = problem.build_model()
    model.load_state_dict(torch.load(run.dir / "model.pt", weights_only=True))
    return Decoder(basis, latent_dim, model, problem.normalisation), metrics
