"""The forward problem (verification): given f and g of an Ornstein–Uhlenbeck process, solve the
Fokker–Planck equation for s = log p(x, t) as a PINN through ``hodphys.train``.

    s(x, t) = log p₀(x) + t · N(x, t)      (the initial condition holds exactly; N an MLP of z = (x, t))
    loss = mean r_FP(x, t)² at points uniform in the box × [0, T]

With the initial condition exact the log form fixes s (∂_t s depends on ∇s only, so no free
constant remains). The box is m ± ``box_stds`` standard deviations of the widest marginal over [0, T];
no boundary data are used. Checked against the closed-form density: relative L2 error of p at T.

Glossary: N points, d dimensions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hodphys.checks import check_integers
from hodphys.nn import MLP
from hodphys.sde.density import density_terms, space_time
from hodphys.sde.fokker_planck import fokker_planck_residual
from hodphys.sde.processes import OrnsteinUhlenbeck
from hodphys.train import TrainConfig
from hodphys.train.config import ACTIVATIONS, check_positive, dtype_of, validate


@dataclass
class ForwardConfig(TrainConfig):
    """The OU process (per-coordinate θ, σ, m₀, v₀; a single value is used for every coordinate)."""

    dim: int = 2
    theta: list[float] = field(default_factory=lambda: [1.0, 0.5])
    sigma: list[float] = field(default_factory=lambda: [0.8, 0.6])
    mean0: list[float] = field(default_factory=lambda: [1.5, -1.0])
    var0: list[float] = field(default_factory=lambda: [0.2, 0.3])
    t_final: float = 1.0
    box_stds: float = 3.0
    widths: list[int] = field(default_factory=lambda: [64] * 3)
    n_interior: int = 1024
    adam_steps: int = 800
    lr: float = 3e-3
    lr_final: float = 1e-4
    optimizer_steps: int = 300
    eval_every: int = 400
    grid_size: int = 81


def _per_coordinate(name: str, values: list[float], d: int) -> list[float]:
    if len(values) == 1:
        return values * d
    if len(values) != d:
        raise ValueError(f"config key {name!r}: expected 1 or dim={d} values, got {values}")
    return values


def forward_process(config: ForwardConfig) -> OrnsteinUhlenbeck:
    """The OU process ``config`` describes; ValueError naming the key for any bad value (before anything is
    written: ``hodphys run fokker-planck-ou`` calls it as the problem's check)."""
    validate(config)
    check_integers("config key 'dim'", 1, value=config.dim)
    check_positive(config, "t_final", "box_stds")
    return OrnsteinUhlenbeck(*(_per_coordinate(k, getattr(config, k), config.dim)
                               for k in ("theta", "sigma", "mean0", "var0")), d=config.dim)


class InitialValueLogDensity(nn.Module):
    """s(z) = log p₀(x) + t · N(z), z = (x, t): (N, d+1) → (N, 1)."""

    def __init__(self, process: OrnsteinUhlenbeck, net: nn.Module):
        super().__init__()
        self.process, self.net = process, net

    def forward(self, z: Tensor) -> Tensor:
        x, t = z[..., :-1], z[..., -1:]
        initial = self.process.log_density(x, torch.zeros_like(t[..., 0])).unsqueeze(-1)
        return initial + t * self.net(z)


class ForwardFokkerPlanck:
    """The ``hodphys.train`` problem: PINN for log p of an OU process (see the module docstring)."""

    def __init__(self, config: ForwardConfig):
        self.config, self.dtype, self.device = config, dtype_of(config), torch.device("cpu")
        self.process = forward_process(config)
        times = torch.linspace(0, config.t_final, 65, dtype=torch.float64)
        means, stds = self.process.mean(times), self.process.variance(times).sqrt()
        self.low = (means - config.box_stds * stds).min(0).values
        self.high = (means + config.box_stds * stds).max(0).values

    def build_model(self) -> nn.Module:
        net = MLP([self.config.dim + 1, *self.config.widths, 1], ACTIVATIONS[self.config.activation]())
        return InitialValueLogDensity(self.process, net).to(self.device, self.dtype)

    def sample(self, generator: torch.Generator, n: int) -> dict[str, Tensor]:
        unit = torch.rand(n, self.config.dim + 1, generator=generator, dtype=torch.float64)
        x = self.low + unit[:, :-1] * (self.high - self.low)
        t = unit[:, -1] * self.config.t_final
        return {"x": x.to(self.device, self.dtype), "t": t.to(self.device, self.dtype)}

    def loss(self, model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        x, t = batch["x"], batch["t"]
        terms = density_terms(model, x, t, method=self.config.derivative_method)
        residual = fokker_planck_residual(self.process.drift, self.process.diffusion, terms, x, t)
        pde = residual.square().mean()
        return pde, {"pde": pde}

    def evaluation_points(self, n: int = 4096) -> Tensor:
        """The (x₁, x₂) grid for d = 2, else n fixed random points in the box."""
        if self.config.dim == 2:
            return self.grid()[2]
        generator = torch.Generator().manual_seed(self.config.seed + 7919)
        return self.sample(generator, n)["x"]

    def grid(self) -> tuple[Tensor, Tensor, Tensor]:
        axes = [torch.linspace(float(a), float(b), self.config.grid_size, dtype=torch.float64)
                for a, b in zip(self.low[:2], self.high[:2])]
        grid_x, grid_y = torch.meshgrid(*axes, indexing="xy")
        return grid_x, grid_y, torch.stack([grid_x.flatten(), grid_y.flatten()], -1).to(self.device, self.dtype)

    @torch.no_grad()
    def densities(self, model: nn.Module, x: Tensor, t: float) -> tuple[Tensor, Tensor]:
        """(learned p, exact p) at x (N, d) and time t, each (N,)."""
        times = torch.full((len(x),), t, dtype=x.dtype, device=x.device)
        learned = model(space_time(x, times))[:, 0].exp()
        return learned, self.process.log_density(x, times).exp()

    def metrics(self, model: nn.Module) -> dict[str, Any]:
        """rel_l2_p_final = ‖p − p*‖/‖p*‖ at T; rel_l2_mean its mean over t = T/4, T/2, 3T/4, T."""
        x = self.evaluation_points()
        errors = []
        for fraction in (0.25, 0.5, 0.75, 1.0):
            learned, exact = self.densities(model, x, fraction * self.config.t_final)
            errors.append(float((learned - exact).norm() / exact.norm()))
        return {"rel_l2_p_final": errors[-1], "rel_l2_mean": sum(errors) / len(errors)}

    def write_outputs(self, model: nn.Module, run: Any, stages: dict[str, list[int]] | None = None) -> list[Path]:
        """plots/density.png: exact / learned / |error| of p at t = 0, T/2, T on the (x₁, x₂) plane (d = 2)."""
        from hodphys.io.figures import plot_fields

        if self.config.dim != 2 or not self.config.plots:
            return []
        grid_x, grid_y, points = self.grid()
        times = [0.0, 0.5 * self.config.t_final, self.config.t_final]
        pairs = [self.densities(model, points, t) for t in times]
        shape = (len(times), *grid_x.shape)
        learned = torch.stack([p for p, _ in pairs]).reshape(shape).double().cpu().numpy()
        exact = torch.stack([q for _, q in pairs]).reshape(shape).double().cpu().numpy()
        return [plot_fields(run.path("plots", "density.png"), grid_x.numpy(), grid_y.numpy(), learned, exact,
                            [f"p(x, t={t:g})" for t in times])]
