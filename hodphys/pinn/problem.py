"""The base a PDE problem script subclasses: points, residuals, loss, reference, metrics, outputs.

Glossary: d input dimension, m model outputs, N points. A problem on a box Ω = Π [a_i, b_i]
says three things — the rest (sampling, loss, metrics, plots, VTU) is inherited:

    class Heat(Problem):
        def residual(self, model, x):            # (N, d) → (N, m): the PDE, zero at the solution
            return self.laplacian(model, x) - self.source(x)
        def exact(self, x):                      # (N, d) → (N, m): reference, also the Dirichlet data
            return torch.sin(x).sum(-1, keepdim=True)

    problem = Heat(config, bounds=[(0, 1)] * 2, outputs=1)

Loss: L = mean_N |r_pde|² + w_b · mean_N |u(x_b) − g(x_b)|² (+ w_d · mean |u(x_d) − y_d|² with data).
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import hodphys as hp
from hodphys.io.runs import Run
from hodphys.train.config import ACTIVATIONS, TrainConfig, dtype_of, validate

Batch = dict[str, Tensor]  # "interior" (N, d), "boundary" (N_b, d), "boundary_values" (N_b, m), …


def mlp(d: int, widths: Sequence[int], m: int, activation: str = "tanh") -> nn.Sequential:
    """d → widths[0] → … → widths[-1] → m, the activation after every hidden layer."""
    layers: list[nn.Module] = []
    for a, b in zip([d, *widths[:-1]], widths):
        layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], m))


class Problem:
    """A PDE on a box with Dirichlet data; subclasses define :meth:`residual` and :meth:`exact`.

    Args:
        config: the problem's config (a :class:`TrainConfig` subclass).
        bounds: [(a_1, b_1), …, (a_d, b_d)], the box Ω.
        outputs: m, the number of fields the network predicts.
        names: a name per output (plots, VTU arrays); default "u0", "u1", ….
    """

    def __init__(self, config: TrainConfig, bounds: Sequence[tuple[float, float]], outputs: int,
                 names: Sequence[str] | None = None):
        validate(config)
        if not bounds or any(not a < b for a, b in bounds):
            raise ValueError(f"Problem: expected bounds [(a_1, b_1), …] with a_i < b_i, got {list(bounds)}")
        if names is not None and len(names) != outputs:
            raise ValueError(f"Problem: expected {outputs} output names, got {list(names)}")
        self.config = config
        self.dtype = dtype_of(config)
        self.device = torch.device("cpu")
        self.bounds = torch.tensor(bounds, dtype=torch.float64)  # (d, 2)
        self.outputs = outputs
        self.names = list(names) if names is not None else [f"u{k}" for k in range(outputs)]

    @property
    def dim(self) -> int:
        return self.bounds.shape[0]

    # --- what a subclass defines --------------------------------------------------------------
    def residual(self, model: nn.Module, x: Tensor) -> Tensor:
        """The PDE residual at interior points, (N, d) → (N, ·); zero at the solution."""
        raise NotImplementedError(f"{type(self).__name__} must define residual(model, x)")

    def exact(self, x: Tensor) -> Tensor | None:
        """The reference solution (N, d) → (N, m), or None when there is none."""
        return None

    def boundary_values(self, x: Tensor) -> Tensor:
        """Dirichlet data g on ∂Ω, (N, d) → (N, m); the exact solution by default."""
        values = self.exact(x)
        if values is None:
            raise NotImplementedError(f"{type(self).__name__} has no exact solution: define boundary_values(x)")
        return values

    def data(self) -> tuple[Tensor, Tensor] | None:
        """Observations (x (N_d, d), y (N_d, m)) fitted with weight ``data_weight``, or None."""
        return None

    def _values(self, what: str, values: Any, x: Tensor) -> Tensor:
        """values of exact/boundary_values/data as (N, m); anything else broadcasts silently against
        the (N, m) prediction, so it is an error naming the method."""
        expected = (x.shape[0], self.outputs)
        if not isinstance(values, Tensor) or tuple(values.shape) != expected:
            got = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
            raise ValueError(f"{type(self).__name__}.{what} must return a tensor of shape (N, m) = {expected} "
                             f"for {x.shape[0]} points and m = {self.outputs} outputs, got {got}")
        return values

    # --- helpers for residuals ----------------------------------------------------------------
    def laplacian(self, model: nn.Module, x: Tensor) -> Tensor:
        """Δu_k at x, (N, d) → (N, m), with the configured engine (``derivative_method``)."""
        return hp.laplacian(model, x, method=self.config.derivative_method)

    def build_model(self) -> nn.Module:
        """The configured MLP d → widths → m in the configured dtype (initialised by torch's RNG).

        With ``normalize_outputs`` a frozen affine layer u = μ + σ ⊙ net(x) follows, μ and σ the
        mean and spread of the Dirichlet data, so the trained layers work at unit scale.
        """
        model = mlp(self.dim, self.config.widths, self.outputs, self.config.activation)
        if self.config.normalize_outputs:
            generator = torch.Generator().manual_seed(self.config.seed + 104729)  # not the training stream
            points = self.sample_boundary(4096, generator)
            values = self._values("boundary_values", self.boundary_values(points), points).double()
            # the spread sets the output scale; a (nearly) constant boundary (u = 0 on ∂Ω, say) says
            # nothing about the interior's, so such an output keeps scale 1 (and only the shift)
            spread = values.std(0)
            flat = spread < 1e-3 * max(float(values.abs().max()), 1.0)
            shift, scale = values.mean(0), torch.where(flat, torch.ones_like(spread), spread)
            affine = nn.Linear(self.outputs, self.outputs)
            with torch.no_grad():
                affine.weight.copy_(torch.diag(scale))
                affine.bias.copy_(shift)
            model.append(affine.requires_grad_(False))
        return model.to(dtype=self.dtype, device=self.device)

    # --- points -------------------------------------------------------------------------------
    def _to(self, x: Tensor) -> Tensor:
        return x.to(dtype=self.dtype, device=self.device)

    def _scale(self, unit: Tensor) -> Tensor:
        """Map points of [0, 1]^d to Ω."""
        low, high = self.bounds[:, 0], self.bounds[:, 1]
        return low + unit * (high - low)

    def sample_interior(self, n: int, generator: torch.Generator) -> Tensor:
        """n points uniform in Ω, (n, d); drawn on the CPU so every device sees the same points."""
        return self._to(self._scale(torch.rand(n, self.dim, generator=generator, dtype=torch.float64)))

    def sample_boundary(self, n: int, generator: torch.Generator) -> Tensor:
        """n points uniform on ∂Ω, (n, d): a face chosen with probability ∝ its area, then uniform on it."""
        extent = self.bounds[:, 1] - self.bounds[:, 0]
        face_area = extent.prod() / extent  # face ⊥ axis i has area Π_{j≠i} extent_j
        axis = torch.multinomial(torch.cat([face_area, face_area]), n, replacement=True, generator=generator)
        unit = torch.rand(n, self.dim, generator=generator, dtype=torch.float64)
        rows = torch.arange(n)
        unit[rows, axis % self.dim] = (axis >= self.dim).to(torch.float64)  # low face 0, high face 1
        return self._to(self._scale(unit))

    def sample(self, generator: torch.Generator, n_interior: int | None = None) -> Batch:
        """A fresh set of collocation points (and the data, when the problem has any)."""
        boundary = self.sample_boundary(self.config.n_boundary, generator)
        batch = {"interior": self.sample_interior(n_interior or self.config.n_interior, generator),
                 "boundary": boundary,
                 "boundary_values": self._values("boundary_values", self.boundary_values(boundary), boundary)}
        observed = self.data()
        if observed is not None:
            points, values = (self._to(t) for t in observed)
            batch["data"], batch["data_values"] = points, self._values("data", values, points)
        return batch

    # --- loss ---------------------------------------------------------------------------------
    def loss_terms(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        """Mean squared residual per term: "pde", "boundary" and, with data, "data"."""
        terms = {"pde": self.residual(model, batch["interior"]).square().mean(),
                 "boundary": (model(batch["boundary"]) - batch["boundary_values"]).square().mean()}
        if "data" in batch:
            terms["data"] = (model(batch["data"]) - batch["data_values"]).square().mean()
        return terms

    def loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """L = pde + w_b·boundary + w_d·data, and the terms (for logs)."""
        terms = self.loss_terms(model, batch)
        weights = {"pde": 1.0, "boundary": self.config.boundary_weight,
                   "data": self.config.data_weight}
        return sum(weights[name] * value for name, value in terms.items()), terms

    # --- evaluation ---------------------------------------------------------------------------
    def plane(self, size: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """A size×size grid on the (x_1, x_2) plane through the centre of Ω: (X, Y, points (size², d))."""
        size = size or self.config.grid_size
        axes = [torch.linspace(float(a), float(b), size, dtype=torch.float64) for a, b in self.bounds[:2]]
        grid_x, grid_y = torch.meshgrid(*axes, indexing="xy")  # (size, size), x along columns
        points = self.bounds.mean(1).repeat(size * size, 1)
        points[:, 0], points[:, 1] = grid_x.flatten(), grid_y.flatten()
        return grid_x, grid_y, self._to(points)

    def evaluation_points(self) -> Tensor:
        """Where the error is measured: the grid for d = 2, else ``eval_points`` fixed random points."""
        if self.dim == 2:
            return self.plane()[2]
        generator = torch.Generator().manual_seed(self.config.seed + 7919)  # not the training stream
        return self.sample_interior(self.config.eval_points, generator)

    @torch.no_grad()
    def predict(self, model: nn.Module, x: Tensor, chunk: int = 16384) -> Tensor:
        """model(x) in chunks, (N, d) → (N, m)."""
        return torch.cat([model(part) for part in x.split(chunk)])

    def metrics(self, model: nn.Module) -> dict[str, Any]:
        """Relative L2 errors ‖u_k − u*_k‖/‖u*_k‖ on the evaluation points (empty without exact)."""
        x = self.evaluation_points()
        truth = self.exact(x)
        if truth is None:
            return {}
        truth = self._values("exact", truth, x)
        error = (self.predict(model, x) - truth).norm(dim=0) / truth.norm(dim=0)
        per_output = [float(e) for e in error]
        return {"rel_l2_mean": sum(per_output) / len(per_output), "rel_l2_max": max(per_output),
                "rel_l2": per_output}

    # --- outputs ------------------------------------------------------------------------------
    def write_outputs(self, model: nn.Module, run: Run, stages: dict[str, list[int]] | None = None) -> list[Path]:
        """``plots/loss.png`` from metrics.jsonl; for d ≥ 2 also ``plots/fields.png`` (truth /
        prediction / |error| per output on the (x_1, x_2) plane) and ``fields.vtu`` for ParaView.
        The PNGs only with the config's ``plots`` on."""
        from hodphys.io.figures import plot_fields, plot_loss_curve
        from hodphys.io.grid import write_grid_vtu

        written = [self._plot_history(run, stages, plot_loss_curve)] if self.config.plots else []
        if self.dim < 2:
            return written
        grid_x, grid_y, points = self.plane()
        shape = (self.outputs, *grid_x.shape)
        prediction = self.predict(model, points).T.reshape(shape).cpu().double().numpy()
        truth = self.exact(points)
        truth = truth.T.reshape(shape).cpu().double().numpy() if truth is not None else None
        if self.config.plots:
            written.append(plot_fields(run.path("plots", "fields.png"), grid_x.numpy(), grid_y.numpy(),
                                       prediction, truth, self.names))
        fields = {name: prediction[k] for k, name in enumerate(self.names)}
        if truth is not None:
            fields.update({f"{name}_exact": truth[k] for k, name in enumerate(self.names)})
            fields.update({f"{name}_error": abs(prediction[k] - truth[k]) for k, name in enumerate(self.names)})
        written.append(write_grid_vtu(run.path("fields.vtu"), grid_x.numpy(), grid_y.numpy(), fields))
        return written

    @staticmethod
    def _plot_history(run: Run, stages: dict[str, list[int]] | None, plot_loss_curve) -> Path:
        history = _history(run.dir / "metrics.jsonl")
        losses = [(h["step"], h["loss"]) for h in history if "loss" in h]
        errors = [(h["step"], h["rel_l2_mean"]) for h in history if "rel_l2_mean" in h]
        return plot_loss_curve(run.path("plots", "loss.png"), *zip(*losses or [(0, math.nan)]),
                               stage_starts={k: v[0] for k, v in (stages or {}).items()},
                               errors=tuple(zip(*errors)) if errors else None)


def _history(path: Path) -> list[dict[str, Any]]:
    """The lines of metrics.jsonl (a missing file is an empty history)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
