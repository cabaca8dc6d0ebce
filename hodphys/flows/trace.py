"""Trace estimators for d log p/dt = −div f: exact (one pass for HollowNets), Hutchinson, brute force.

Each estimator evaluates a field f (a module of z alone, see :func:`hodphys.flows.dynamics.bind`)
at z (B, d) and returns f (B, d), div f (B,) and, when asked, the vector–Jacobian product
εᵀ ∂f/∂z (B, d) that RNODE's Jacobian–Frobenius regulariser ‖εᵀ∂f/∂z‖² needs:

* ``"exact"``: ``hp.divergence(field, z, return_value=True[, vjp=ε])`` — f and div f from one
  forward and one backward pass for a HollowNet, through the transformer alone; with ε also
  εᵀ∂f/∂z from the same pass, then through the whole net. The cheapest exact engine ("auto") for
  any other module.
* ``"hutchinson"``: εᵀ(∂f/∂z)ε with ε Rademacher or Gaussian (E εεᵀ = I), one backward pass,
  unbiased but noisy (FFJORD).
* ``"brute"``: Σ_i ∂f_i/∂z_i by d backward passes, one per output (the textbook reference).

Under grad mode every result carries its graph (to z and the parameters, ``create_graph``);
under ``torch.no_grad`` they are plain tensors.
"""
from __future__ import annotations

from typing import NamedTuple
from collections.abc import Callable

import torch
from torch import Tensor, nn

import hodphys as hp

NOISES = ("rademacher", "gaussian")


class FieldEvaluation(NamedTuple):
    """f (B, d), div f (B,), εᵀ∂f/∂z (B, d) or None."""

    value: Tensor
    divergence: Tensor
    vjp: Tensor | None


def probe_noise(kind: str, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """ε of shape like's, E[εεᵀ] = I: Rademacher (±1) or standard Gaussian."""
    if kind == "rademacher":
        signs = torch.randint(0, 2, like.shape, generator=generator, device=like.device)
        return (2 * signs - 1).to(like.dtype)
    if kind == "gaussian":
        return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)
    raise ValueError(f"probe noise: unknown noise={kind!r}; expected one of {list(NOISES)}")


def _vjp(f: Tensor, z: Tensor, v: Tensor, create_graph: bool) -> Tensor:
    """vᵀ ∂f/∂z, (B, d); zeros where f does not depend on z."""
    (grad,) = torch.autograd.grad(f, z, v, create_graph=create_graph, retain_graph=True, allow_unused=True)
    return torch.zeros_like(z) if grad is None else grad


def _exact(field: nn.Module, z: Tensor, noise: Tensor | None, keep: bool) -> FieldEvaluation:
    """f, div f and the regulariser's εᵀ∂f/∂z from one ``hp.divergence`` call: for a HollowNet one
    forward and one backward pass (through the transformer alone without ε; through the whole net
    with ε, the same pass as Hutchinson's)."""
    with torch.set_grad_enabled(keep):
        return FieldEvaluation(*hp.divergence(field, z, return_value=True, vjp=noise))


def _hutchinson(field: nn.Module, z: Tensor, noise: Tensor | None, keep: bool) -> FieldEvaluation:
    f = field(z)
    vjp = _vjp(f, z, noise, keep)
    return FieldEvaluation(f, (vjp * noise).sum(-1), vjp)


def _brute(field: nn.Module, z: Tensor, noise: Tensor | None, keep: bool) -> FieldEvaluation:
    f = field(z)
    diagonal = [_vjp(f[..., i], z, torch.ones_like(f[..., i]), keep)[..., i] for i in range(z.shape[-1])]
    vjp = None if noise is None else _vjp(f, z, noise, keep)
    return FieldEvaluation(f, torch.stack(diagonal, dim=-1).sum(-1), vjp)


ESTIMATORS: dict[str, Callable[..., FieldEvaluation]] = {
    "exact": _exact, "hutchinson": _hutchinson, "brute": _brute}


def check_estimator(owner: str, trace: str, noise: str) -> None:
    """ValueError naming the bad option unless trace and noise are known."""
    if trace not in ESTIMATORS:
        raise ValueError(f"{owner}: unknown trace={trace!r}; expected one of {list(ESTIMATORS)}")
    if noise not in NOISES:
        raise ValueError(f"{owner}: unknown noise={noise!r}; expected one of {list(NOISES)}")


def evaluate_field(field: nn.Module, z: Tensor, trace: str, noise: Tensor | None) -> FieldEvaluation:
    """f(z), div f(z) by the estimator ``trace`` and, when noise is given, εᵀ∂f/∂z.

    noise (B, d): Hutchinson's probe ε (required for "hutchinson"), also the ε of the
    Jacobian–Frobenius regulariser; None for the exact estimators where no Jacobian term is taken.
    """
    keep = torch.is_grad_enabled()
    with torch.enable_grad():
        z_in = z if (keep and z.requires_grad) else z.detach().requires_grad_(True)
        evaluation = ESTIMATORS[trace](field, z_in, noise, keep)
    if keep:
        return evaluation
    return FieldEvaluation(*(None if part is None else part.detach() for part in evaluation))
