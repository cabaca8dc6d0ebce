"""The Fokker–Planck residual of dx = f(x, t) dt + diag(g(x, t)) dW, in plain and in log form.

With a_i = g_i² the density obeys ∂_t p = −Σ_i ∂_i(f_i p) + ½ Σ_i ∂_i²(a_i p). Residuals (zero at
the solution), with D_dim f = [∂_i f_i]_i and a′, a″ the dimension-wise derivatives of a:

    plain (u = p):      r = ∂_t p + Σ_i [f_i′ p + f_i ∂_i p − ½ (a_i″ p + 2 a_i′ ∂_i p + a_i ∂_i² p)]
    log   (u = log p):  r = ∂_t s + Σ_i [f_i′ + f_i ∂_i s − ½ (a_i″ + 2 a_i′ ∂_i s + a_i (∂_i² s + (∂_i s)²))]

(the log form is the plain form divided by p). Only dimension-wise derivatives of f and g enter:
for HollowNets they cost one backward pass (D_dim f) and three (D_dim g and D²_dim g, two
hp.dim_derivative calls) whatever d is; a general network pays d passes per order instead.

    r = fokker_planck_residual(drift, diffusion, density_terms(log_p_model, x, t), x, t)

Glossary: N points, d dimensions.
"""
from __future__ import annotations

from torch import Tensor, nn

from hodphys.sde.coefficients import dimwise_terms, squared_terms
from hodphys.sde.density import DensityTerms

FORMS = ("log", "plain")


def fokker_planck_residual(drift: nn.Module, diffusion: nn.Module, density: DensityTerms, x: Tensor,
                           t: Tensor, form: str = "log", method: str = "auto") -> Tensor:
    """r(x, t) of the Fokker–Planck equation, shape (N,).

    Args:
        drift, diffusion: coefficient modules (see :mod:`hodphys.sde.coefficients`), x (N, d) → (N, d).
        density: u and its derivatives at (x, t) (:func:`hodphys.sde.density_terms`), u = log p for
            ``form="log"``, p for ``form="plain"``.
        x, t: points (N, d) and times (N,).
        method: the ``hp.dim_derivative`` engine for f and g ("auto"; "autograd" is brute force).
    """
    if form not in FORMS:
        raise ValueError(f"fokker_planck_residual: expected form in {FORMS}, got {form!r}")
    if x.ndim != 2 or t.shape != x.shape[:1] or density.gradient.shape != x.shape:
        raise ValueError(f"fokker_planck_residual: expected x (N, d), t (N,) and density terms at the same "
                         f"points, got x {tuple(x.shape)}, t {tuple(t.shape)}, "
                         f"∇u {tuple(density.gradient.shape)}")
    f = dimwise_terms(drift, x, t, order=1, method=method)
    a = squared_terms(dimwise_terms(diffusion, x, t, order=2, method=method))
    du, d2u = density.gradient, density.hessian_diagonal
    if form == "log":
        diffusive = a.second + 2 * a.first * du + a.value * (d2u + du**2)
        return density.time + (f.first + f.value * du - 0.5 * diffusive).sum(-1)
    u = density.value.unsqueeze(-1)
    diffusive = a.second * u + 2 * a.first * du + a.value * d2u
    return density.time + (f.first * u + f.value * du - 0.5 * diffusive).sum(-1)
