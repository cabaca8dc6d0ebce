"""Known SDEs with closed-form coefficients: the Ornstein–Uhlenbeck process (closed-form density) and
the double-well family with rotational drift and state-dependent diagonal diffusion (the inverse
problem's ground truth).

Glossary: N points, d dimensions.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from hodphys.sde.density import DensityTerms


def _vector(name: str, value, d: int, positive: bool) -> Tensor:
    v = torch.as_tensor(value, dtype=torch.float64).flatten().expand(d).clone()
    if not bool(torch.isfinite(v).all()) or (positive and not bool((v > 0).all())):
        raise ValueError(f"OrnsteinUhlenbeck: expected {name} of {d} finite{' positive' if positive else ''} "
                         f"values, got {v.tolist()}")
    return v


class ConstantDiffusion(nn.Module):
    """g(x) = σ, the same for every x: (N, d) → (N, d)."""

    def __init__(self, sigma: Tensor):
        super().__init__()
        self.register_buffer("sigma", sigma)

    def forward(self, x: Tensor) -> Tensor:
        return (self.sigma.to(x) + 0 * x)


class LinearDrift(nn.Module):
    """f(x) = −θ ⊙ x: (N, d) → (N, d)."""

    def __init__(self, theta: Tensor):
        super().__init__()
        self.register_buffer("theta", theta)

    def forward(self, x: Tensor) -> Tensor:
        return -self.theta.to(x) * x


class OrnsteinUhlenbeck:
    """dx_i = −θ_i x_i dt + σ_i dW_i from x(0) ~ N(m₀, diag v₀): independent Gaussian coordinates with

        m(t) = m₀ e^{−θt},   v(t) = v₀ e^{−2θt} + σ²/(2θ) (1 − e^{−2θt}).
    """

    def __init__(self, theta, sigma, mean0, var0, d: int = 2):
        self.d = d
        self.theta, self.sigma = _vector("theta", theta, d, True), _vector("sigma", sigma, d, True)
        self.mean0, self.var0 = _vector("mean0", mean0, d, False), _vector("var0", var0, d, True)
        self.drift, self.diffusion = LinearDrift(self.theta), ConstantDiffusion(self.sigma)

    def mean(self, t: Tensor) -> Tensor:
        """m(t), t (N,) → (N, d)."""
        return self.mean0.to(t) * torch.exp(-self.theta.to(t) * t.unsqueeze(-1))

    def variance(self, t: Tensor) -> Tensor:
        """v(t), t (N,) → (N, d)."""
        theta, decay = self.theta.to(t), torch.exp(-2 * self.theta.to(t) * t.unsqueeze(-1))
        return self.var0.to(t) * decay + self.sigma.to(t) ** 2 / (2 * theta) * (1 - decay)

    def log_density(self, x: Tensor, t: Tensor) -> Tensor:
        """log p(x, t), x (N, d), t (N,) → (N,)."""
        m, v = self.mean(t), self.variance(t)
        return (-0.5 * (x - m) ** 2 / v - 0.5 * torch.log(2 * math.pi * v)).sum(-1)

    def log_density_terms(self, x: Tensor, t: Tensor) -> DensityTerms:
        """s = log p and its exact derivatives (closed form): ∂_t s, ∇s = −(x − m)/v, ∂_i² s = −1/v_i."""
        theta = self.theta.to(t)
        m, v = self.mean(t), self.variance(t)
        dm = -theta * m
        dv = -2 * theta * v + self.sigma.to(t) ** 2
        r = x - m
        time = (r * dm / v + 0.5 * r**2 * dv / v**2 - 0.5 * dv / v).sum(-1)
        return DensityTerms(self.log_density(x, t), time, -r / v, -1 / v.expand_as(x))

    def initial(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n exact samples of x(0), (n, d) in float64."""
        return self.sample(0.0, n, generator)

    def sample(self, t: float, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n exact samples of x(t), (n, d) in float64."""
        tt = torch.full((1,), float(t), dtype=torch.float64)
        noise = torch.randn(n, self.d, generator=generator, dtype=torch.float64)
        return self.mean(tt) + self.variance(tt).sqrt() * noise


class DoubleWellDrift(nn.Module):
    """f(x) = −∇U(x) + ω J x with U = (x₁² − 1)² + ½ Σ_{i≥2} x_i² and J rotating each pair (x_{2j−1}, x_{2j})
    by +90° (a last unpaired coordinate is not rotated). (N, d) → (N, d)."""

    def __init__(self, rotation: float = 1.0):
        super().__init__()
        self.rotation = float(rotation)

    def forward(self, x: Tensor) -> Tensor:
        gradient = torch.cat([4 * x[..., :1] * (x[..., :1] ** 2 - 1), x[..., 1:]], dim=-1)
        pairs = x.shape[-1] // 2 * 2
        paired = x[..., :pairs].unflatten(-1, (-1, 2))
        turned = torch.stack([-paired[..., 1], paired[..., 0]], dim=-1).flatten(-2)
        rotational = torch.cat([turned, torch.zeros_like(x[..., pairs:])], dim=-1)
        return -gradient + self.rotation * rotational


class StateDiffusion(nn.Module):
    """g_i(x) = σ (1 + ½ tanh x_i): diagonal, state dependent, between σ/2 and 3σ/2. (N, d) → (N, d)."""

    def __init__(self, sigma: float = 0.5):
        super().__init__()
        self.sigma = float(sigma)

    def forward(self, x: Tensor) -> Tensor:
        return self.sigma * (1 + 0.5 * torch.tanh(x))


class DoubleWell:
    """The inverse problem's ground truth in d ≥ 2: drift :class:`DoubleWellDrift`, diffusion
    :class:`StateDiffusion`, x(0) ~ N(m₀, s₀² I) with m₀ = (0, 0.5, 0, …)."""

    def __init__(self, d: int = 2, rotation: float = 1.0, sigma: float = 0.5, spread0: float = 0.3):
        if d < 2:
            raise ValueError(f"DoubleWell: expected d ≥ 2, got d={d}")
        self.d, self.spread0 = d, spread0
        self.drift, self.diffusion = DoubleWellDrift(rotation), StateDiffusion(sigma)

    def initial(self, n: int, generator: torch.Generator) -> Tensor:
        """n samples of x(0), (n, d) in float64."""
        mean = torch.zeros(self.d, dtype=torch.float64)
        mean[1] = 0.5
        return mean + self.spread0 * torch.randn(n, self.d, generator=generator, dtype=torch.float64)
