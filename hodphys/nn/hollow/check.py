"""check_hollow: does a HollowNet's conditioner really keep x_i out of h_i?

The hollow engine's D_dim f and divergence are exact only if ∂h_i/∂x_i = 0. The built-in
conditioners guarantee it by construction; a custom one (say, attention whose query carries
x_i) may not, and then D_dim f silently misses the term ∂τ/∂h_i · ∂h_i/∂x_i. This check measures
L_i = max over probe points and channels of |∂h_i/∂x_i| with d forward-mode passes (jvp along
each e_i) — the d passes the engine itself avoids — so run it once, not in a training loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import jvp, vmap

from hodphys.nn.hollow.net import flat_extras, unpack


@dataclass(frozen=True)
class HollowReport:
    """L_i = max |∂h_i/∂x_i| per dimension i (leaks, shape (d,)); hollow when max L_i ≤ tol."""

    leaks: Tensor
    points: int
    tol: float

    @property
    def max_leak(self) -> float:
        return float(self.leaks.max())

    @property
    def leaking(self) -> list[int]:
        """Dimensions i whose h_i depends on x_i."""
        return torch.nonzero(self.leaks > self.tol).flatten().tolist()

    @property
    def hollow(self) -> bool:
        return self.max_leak <= self.tol

    def __bool__(self) -> bool:
        return self.hollow

    def __str__(self) -> str:
        if self.hollow:
            return f"hollow: max_i |∂h_i/∂x_i| = {self.max_leak:.3g} at {self.points} probe points"
        worst = int(self.leaks.argmax())
        shown = ", ".join(map(str, self.leaking[:8])) + (", …" if len(self.leaking) > 8 else "")
        return (f"NOT hollow: h_i depends on x_i for i in [{shown}] (max |∂h_i/∂x_i| = "
                f"{self.max_leak:.3g} at i={worst}, tol {self.tol:g}); the conditioner must not read "
                f"x_i when it computes h_i, otherwise D_dim f and divergence from the hollow engine "
                f"are wrong")


def _probe(net: nn.Module, x: Tensor | None, generator: torch.Generator) -> Tensor:
    """The points to probe: x if given, else 16 standard-normal points."""
    if x is not None:
        return x
    param = next(net.parameters(), None)
    dtype = param.dtype if param is not None else torch.get_default_dtype()
    device = param.device if param is not None else None
    return torch.randn(16, net.d, generator=generator, dtype=torch.float64).to(dtype=dtype, device=device)


def _random_extras(net: nn.Module, x: Tensor, t: Any, context: Tensor | None,
                   generator: torch.Generator) -> tuple[Any, Tensor | None]:
    """Probe values for a time/context the caller left out."""
    batch = x.shape[:-1]
    if net.time and t is None:
        t = torch.randn(batch, generator=generator, dtype=torch.float64).to(x)
    if net.context_features and context is None:
        context = torch.randn(*batch, net.context_features, generator=generator, dtype=torch.float64).to(x)
    return t, context


def check_hollow(model: nn.Module, x: Tensor | None = None, t: Any = None,
                 context: Tensor | None = None, tol: float = 0.0, seed: int = 0) -> HollowReport:
    """Measure max |∂h_i/∂x_i| of a HollowNet's conditioner; ``report.hollow`` says if it leaks.

    Args:
        model: a HollowNet or ``net.bind(...)``.
        x: probe points (*B, d); default 16 standard-normal points (seeded).
        t: probe time for a net that takes one; a random probe if left out.
        context: probe context for a net that takes one; a random probe if left out.
        tol: largest leak still counted as hollow (0: the built-in conditioners are exact).

    Example::

        report = check_hollow(net)
        assert report.hollow, str(report)
    """
    call = "hodphys.hollow.check_hollow(model)"
    net, t, context = unpack(call, model, t, context)
    generator = torch.Generator().manual_seed(seed)
    x = _probe(net, x, generator)
    if x.shape[-1] != net.d:
        raise ValueError(f"{call}: expected x[..., {net.d}], got x of shape {tuple(x.shape)}")
    if model is net:
        t, context = _random_extras(net, x, t, context, generator)
    extra = flat_extras(net, x.shape[:-1], x, t, context)
    flat = x.reshape(-1, net.d).detach()
    eye = torch.eye(net.d, dtype=flat.dtype, device=flat.device)

    def tangent_of_own_block(e: Tensor) -> Tensor:  # ∂h_i/∂x_i for the i with e = e_i: (N, c)
        _, dh = jvp(lambda y: net.conditioner(y, extra), (flat,), (e.expand_as(flat),))
        return (dh * e.unsqueeze(-1)).sum(-2)

    with torch.no_grad():
        own = vmap(tangent_of_own_block, chunk_size=64)(eye)  # (d, N, c)
    leaks = own.abs().flatten(1).amax(1)
    return HollowReport(leaks=leaks, points=flat.shape[0], tol=float(tol))
