"""A time-conditioned Gaussian mixture: an exactly normalised density model of z = (x, t).

    log p(x | t) = logsumexp_k [ log π_k(t) + Σ_i log N(x_i; μ_ki(t), σ_ki(t)²) ]

with (logits of π, μ, log σ) = an MLP of t. Its log-likelihood needs no estimator and sampling is
exact, so it serves the inverse problem as the density whose ∇s and diag ∇²s enter the
Fokker–Planck residual (by ``hp.derivatives`` on z, like any density model).

Glossary: N points, d dimensions, K components.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class GaussianMixtureDensity(nn.Module):
    """log p(x | t) of a K-component diagonal Gaussian mixture whose parameters are an MLP of t.

    Args:
        d: dimension of x.
        components: K.
        width: hidden width of the MLP t ↦ (logits, means, log stds) (two tanh layers).
        centres: (K, d) initial means (e.g. data points); scale: initial σ (scalar or (d,)).
        min_scale: σ_min ≥ 0.

    Shapes: z = (x, t) (N, d+1) → log p (N, 1). Example::

        density = GaussianMixtureDensity(2, 8, centres=data[:8], scale=0.3)
        log_p = density(torch.cat([x, t[:, None]], -1))
    """

    def __init__(self, d: int, components: int = 8, width: int = 32, centres: Tensor | None = None,
                 scale: float | Tensor = 1.0, min_scale: float = 0.0):
        super().__init__()
        scale = torch.as_tensor(scale, dtype=torch.float32)
        if not (0 <= min_scale and bool((scale > min_scale).all())):
            raise ValueError(f"GaussianMixtureDensity: expected 0 ≤ min_scale < scale, "
                             f"got {min_scale}, {scale.tolist()}")
        if d < 1 or components < 1 or width < 1:
            raise ValueError(f"GaussianMixtureDensity: expected d, components, width ≥ 1, "
                             f"got {d}, {components}, {width}")
        self.d, self.components, self.min_scale = d, components, float(min_scale)
        self.time_net = nn.Sequential(nn.Linear(1, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(),
                                      nn.Linear(width, components * (1 + 2 * d)))
        centres = torch.zeros(components, d) if centres is None else torch.as_tensor(centres, dtype=torch.float32)
        if centres.shape != (components, d):
            raise ValueError(f"GaussianMixtureDensity: expected centres of shape ({components}, {d}), "
                             f"got {tuple(centres.shape)}")
        log_scale = torch.log(scale - min_scale).expand(components, d)
        with torch.no_grad():  # start time-independent: the last layer's weights 0, its bias the initial state
            last = self.time_net[-1]
            last.weight.zero_()
            last.bias.copy_(torch.cat([torch.zeros(components), centres.flatten(), log_scale.flatten()]))

    def parameters_at(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """log π (N, K), μ (N, K, d), log σ (N, K, d) at times t (N,)."""
        out = self.time_net(t.unsqueeze(-1))
        K, d = self.components, self.d
        logits, means, log_stds = out.split([K, K * d, K * d], dim=-1)
        stds = self.min_scale + torch.exp(log_stds.unflatten(-1, (K, d)).clamp(max=5.0))
        return torch.log_softmax(logits, -1), means.unflatten(-1, (K, d)), torch.log(stds)

    def forward(self, z: Tensor) -> Tensor:
        x, t = z[..., :-1], z[..., -1]
        log_weights, means, log_stds = self.parameters_at(t)
        scaled = (x.unsqueeze(-2) - means) * torch.exp(-log_stds)
        per_component = (-0.5 * scaled**2 - log_stds - 0.5 * math.log(2 * math.pi)).sum(-1)
        return torch.logsumexp(log_weights + per_component, dim=-1, keepdim=True)

    @torch.no_grad()
    def sample(self, t: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One exact sample x ~ p(· | t_n) per time, t (N,) → (N, d)."""
        log_weights, means, log_stds = self.parameters_at(t)
        k = torch.multinomial(log_weights.exp(), 1, generator=generator)[:, 0]
        rows = torch.arange(len(t), device=t.device)
        noise = torch.randn(len(t), self.d, generator=generator, dtype=t.dtype, device=t.device)
        return means[rows, k] + torch.exp(log_stds[rows, k]) * noise

    def marginal_log_prob(self, x: Tensor, t: Tensor, dims: tuple[int, ...] = (0, 1)) -> Tensor:
        """log of the exact marginal density of x[dims] (a mixture of the components' marginals).

        Shapes: x (N, len(dims)), t (N,) → (N,).
        """
        log_weights, means, log_stds = self.parameters_at(t)
        index = list(dims)
        scaled = (x.unsqueeze(-2) - means[..., index]) * torch.exp(-log_stds[..., index])
        per_component = (-0.5 * scaled**2 - log_stds[..., index] - 0.5 * math.log(2 * math.pi)).sum(-1)
        return torch.logsumexp(log_weights + per_component, dim=-1)
