"""Finite-strain material laws against closed forms worked out by hand, and against an energy
written here from the textbook (not from hodphys.fem) and differentiated by torch.func.

The other material tests check P = ∂ψ/∂F and A = ∂P/∂F, which any consistent law passes (say a
neo-Hookean with λ/2 (J−1)² for the volumetric part); these pin the law itself.

Deformations (stretch and shear 2: far from the linear range, where the volumetric laws differ):
  uniaxial stretch  F = diag(2, 1, 1),  J = 2
  simple shear      F = I + 2 e₁⊗e₂,    J = 1
"""
import math

import numpy as np
import pytest
import torch
from torch.func import hessian, jacrev

from hodphys.fem.material import NeoHookean, StVenantKirchhoff

MU, LMBDA = 1.3, 2.1
STRETCH = np.diag([2.0, 1.0, 1.0])
SHEAR = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def _batched(F):
    """(3, 3) → (3, 3, 1), the element axis last as hodphys.fem expects."""
    return F[:, :, None]


# ψ, P at each deformation, derived by hand (μ = MU, λ = LMBDA):
# neo-Hookean ψ = μ/2 (tr C − 3) − μ ln J + λ/2 (ln J)²,  P = μ(F − F⁻ᵀ) + λ ln J F⁻ᵀ
#   stretch: tr C − 3 = 3, F⁻ᵀ = diag(½, 1, 1)  → P = diag(3μ/2 + λ ln2/2, λ ln2, λ ln2)
#   shear:   tr C − 3 = 4, J = 1, F⁻ᵀ = I − 2 e₂⊗e₁ → P = 2μ (e₁⊗e₂ + e₂⊗e₁)
# St. Venant–Kirchhoff ψ = λ/2 (tr E)² + μ E:E,  S = λ tr E I + 2μE,  P = F S
#   stretch: E = diag(3/2, 0, 0) → S = diag(3λ/2 + 3μ, 3λ/2, 3λ/2), P = diag(3λ + 6μ, 3λ/2, 3λ/2)
#   shear:   E = [[0, 1, 0], [1, 2, 0], [0, 0, 0]], tr E = 2 → S = 2λI + 2μE,
#            P = F S = [[2λ + 4μ, 4λ + 10μ, 0], [2μ, 2λ + 4μ, 0], [0, 0, 2λ]]
LN2 = math.log(2.0)
CLOSED_FORMS = {
    ("neo-hookean", "stretch"): (1.5 * MU - MU * LN2 + 0.5 * LMBDA * LN2**2,
                                 np.diag([1.5 * MU + 0.5 * LMBDA * LN2, LMBDA * LN2, LMBDA * LN2])),
    ("neo-hookean", "shear"): (2.0 * MU, np.array([[0, 2 * MU, 0], [2 * MU, 0, 0], [0, 0, 0]])),
    ("stvk", "stretch"): (1.125 * LMBDA + 2.25 * MU,
                          np.diag([3 * LMBDA + 6 * MU, 1.5 * LMBDA, 1.5 * LMBDA])),
    ("stvk", "shear"): (2 * LMBDA + 6 * MU,
                        np.array([[2 * LMBDA + 4 * MU, 4 * LMBDA + 10 * MU, 0],
                                  [2 * MU, 2 * LMBDA + 4 * MU, 0], [0, 0, 2 * LMBDA]])),
}
MATERIALS = {"neo-hookean": NeoHookean(mu=MU, lmbda=LMBDA), "stvk": StVenantKirchhoff(mu=MU, lmbda=LMBDA)}
DEFORMATIONS = {"stretch": STRETCH, "shear": SHEAR}


@pytest.mark.parametrize("material, deformation", sorted(CLOSED_FORMS))
def test_energy_and_stress_at_stretch_and_shear_two_match_the_hand_derivation(material, deformation):
    psi, P = CLOSED_FORMS[material, deformation]
    F = _batched(DEFORMATIONS[deformation])
    np.testing.assert_allclose(MATERIALS[material].energy(F)[0], psi, rtol=1e-14)
    np.testing.assert_allclose(MATERIALS[material].stress(F)[..., 0], P, rtol=1e-14, atol=1e-14)


def test_uniaxial_stretch_stress_grows_as_the_neo_hookean_law_says():
    """P₁₁(λ) = μ(λ − 1/λ) + λ_L ln λ / λ along a stretch path λ = 1 … 3 (lateral sides held)."""
    stretches = np.linspace(0.5, 3.0, 11)
    F = np.zeros((3, 3, stretches.size))
    F[0, 0], F[1, 1], F[2, 2] = stretches, 1.0, 1.0
    P = MATERIALS["neo-hookean"].stress(F)
    np.testing.assert_allclose(P[0, 0], MU * (stretches - 1 / stretches) + LMBDA * np.log(stretches) / stretches,
                               rtol=1e-13)
    np.testing.assert_allclose(P[1, 1], LMBDA * np.log(stretches), rtol=1e-13, atol=1e-15)


def _textbook_energy(material):
    """ψ(F) for one F (3, 3), torch, written from the textbook formulas (not hodphys's)."""
    def neo_hookean(F):
        J = torch.linalg.det(F)
        return MU / 2 * (torch.trace(F.T @ F) - 3) - MU * torch.log(J) + LMBDA / 2 * torch.log(J) ** 2

    def stvk(F):
        E = (F.T @ F - torch.eye(3, dtype=F.dtype)) / 2
        return LMBDA / 2 * torch.trace(E) ** 2 + MU * (E * E).sum()

    return {"neo-hookean": neo_hookean, "stvk": stvk}[material]


@pytest.mark.parametrize("material", sorted(MATERIALS))
def test_stress_and_elasticity_match_torch_func_of_the_textbook_energy(material, rng):
    """Large, random deformations (det F > 0): ψ, P = ∂ψ/∂F and A = ∂²ψ/∂F² at each."""
    F = np.eye(3)[:, :, None] + 0.6 * rng.standard_normal((3, 3, 6))
    F[:, :, np.linalg.det(np.moveaxis(F, 2, 0)) < 0.2] = (SHEAR @ STRETCH)[:, :, None]
    psi = _textbook_energy(material)
    for e in range(F.shape[2]):
        Fe = torch.tensor(F[:, :, e])
        ours = MATERIALS[material]
        np.testing.assert_allclose(ours.energy(F[:, :, e:e + 1])[0], psi(Fe).item(), rtol=1e-12)
        np.testing.assert_allclose(ours.stress(F[:, :, e:e + 1])[..., 0], jacrev(psi)(Fe).numpy(),
                                   rtol=1e-11, atol=1e-12 * ours.modulus)
        np.testing.assert_allclose(ours.elasticity(F[:, :, e:e + 1])[..., 0], hessian(psi)(Fe).numpy(),
                                   rtol=1e-11, atol=1e-12 * ours.modulus)
