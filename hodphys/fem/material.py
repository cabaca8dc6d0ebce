"""Hyperelastic materials: energy density ψ(F), first Piola–Kirchhoff stress P = ∂ψ/∂F and
elasticity A = ∂²ψ/∂F∂F, each batched over elements.

Index letters: e elements, i/k spatial and J/L reference coordinates. Every function takes
F[i, J, e] of shape (3, 3, e) and returns ψ (e,), P[i, J, e] (3, 3, e) and A[i, J, k, L, e]
(3, 3, 3, 3, e): the element index last, so each formula is a few vector operations.

    material = NeoHookean.from_young_poisson(young=1e7, poisson=0.3)
    psi, P, A = material.energy(F), material.stress(F), material.elasticity(F)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from hodphys.errors import InputError

from hodphys.fem.matrix3 import determinant, determinant_and_inverse, matmul, transpose

_EYE = np.eye(3)[:, :, None]          # δ, broadcasting against (3, 3, e)


def lame_parameters(young: float, poisson: float) -> tuple[float, float]:
    """(μ, λ) from Young's modulus E > 0 and Poisson's ratio −1 < ν < ½.

    μ = E / (2(1+ν)),  λ = E ν / ((1+ν)(1−2ν)).
    """
    if not 0 < young < float("inf"):
        raise InputError(f"lame_parameters: expected a finite young > 0 (Pa), got {young}")
    if not -1.0 < poisson < 0.5:
        raise InputError(f"lame_parameters: expected −1 < poisson < 0.5, got {poisson}")
    return young / (2 * (1 + poisson)), young * poisson / ((1 + poisson) * (1 - 2 * poisson))


@dataclass(frozen=True)
class Material:
    """Isotropic hyperelastic material with Lamé parameters mu (μ) and lmbda (λ)."""

    mu: float
    lmbda: float
    name: ClassVar[str] = ""

    @property
    def modulus(self) -> float:
        """The P-wave modulus 2μ + λ, the largest small-strain stiffness (sets round-off scales)."""
        return 2 * self.mu + self.lmbda

    @classmethod
    def from_young_poisson(cls, young: float, poisson: float) -> Material:
        mu, lmbda = lame_parameters(young, poisson)
        return cls(mu=mu, lmbda=lmbda)


@dataclass(frozen=True)
class StVenantKirchhoff(Material):
    """ψ = λ/2 (tr E)² + μ tr(E²) with the Green strain E = (FᵀF − I)/2.

    S = λ tr(E) I + 2μE,  P = F S,
    A_iJkL = δ_ik S_JL + λ F_iJ F_kL + μ (δ_JL (FFᵀ)_ik + F_iL F_kJ).
    """

    name: ClassVar[str] = "stvk"

    def _green_strain(self, F: np.ndarray) -> np.ndarray:
        # E = (H + Hᵀ + HᵀH)/2 with H = F − I, free of the cancellation in FᵀF − I at small strain
        H = F - _EYE
        return 0.5 * (H + transpose(H) + matmul(transpose(H), H))

    def _second_piola(self, strain: np.ndarray) -> np.ndarray:
        return self.lmbda * np.trace(strain) * _EYE + 2 * self.mu * strain

    def energy(self, F: np.ndarray) -> np.ndarray:
        strain = self._green_strain(F)
        return 0.5 * self.lmbda * np.trace(strain) ** 2 + self.mu * (strain * strain).sum((0, 1))

    def stress(self, F: np.ndarray) -> np.ndarray:
        return matmul(F, self._second_piola(self._green_strain(F)))

    def elasticity(self, F: np.ndarray) -> np.ndarray:
        second_piola = self._second_piola(self._green_strain(F))
        left_stretch = matmul(F, transpose(F))                    # F Fᵀ, (i, k, e)
        return (_EYE[:, None, :, None] * second_piola[None, :, None, :]
                + self.lmbda * F[:, :, None, None] * F[None, None]
                + self.mu * (_EYE[None, :, None, :] * left_stretch[:, None, :, None]
                             + F[:, None, None, :] * transpose(F)[None, :, :, None]))


@dataclass(frozen=True)
class NeoHookean(Material):
    """Compressible neo-Hookean: ψ = μ/2 (tr C − 3) − μ ln J + λ/2 (ln J)², C = FᵀF, J = det F.

    P = μ(F − F⁻ᵀ) + λ ln J F⁻ᵀ,
    A_iJkL = μ δ_ik δ_JL + (μ − λ ln J) F⁻¹_Li F⁻¹_Jk + λ F⁻¹_Ji F⁻¹_Lk.
    ψ is +∞ where J ≤ 0 (an inverted element), which line searches treat as "too far".
    """

    name: ClassVar[str] = "neo-hookean"

    def energy(self, F: np.ndarray) -> np.ndarray:
        # In H = F − I: tr C − 3 = 2 tr H + H:H and J − 1 = tr H + I₂(H) + det H, so that
        # small strains keep their digits (the naive form cancels to ε·μ absolute error).
        H = F - _EYE
        trace = np.trace(H)
        second_invariant = 0.5 * (trace**2 - (H * transpose(H)).sum((0, 1)))
        det_minus_one = trace + second_invariant + determinant(H)
        with np.errstate(invalid="ignore", divide="ignore"):
            log_det = np.log1p(det_minus_one)
        psi = (self.mu * (trace - log_det + 0.5 * (H * H).sum((0, 1)))
               + 0.5 * self.lmbda * log_det**2)
        return np.where(det_minus_one > -1.0, psi, np.inf)

    def stress(self, F: np.ndarray) -> np.ndarray:
        det, inverse = determinant_and_inverse(F)
        inverse_transpose = transpose(inverse)
        return self.mu * (F - inverse_transpose) + self.lmbda * np.log(det) * inverse_transpose

    def elasticity(self, F: np.ndarray) -> np.ndarray:
        det, inverse = determinant_and_inverse(F)                 # F⁻¹[J, i, e]
        inverse_transpose = transpose(inverse)                    # F⁻ᵀ[i, J, e]
        elasticity = ((self.mu - self.lmbda * np.log(det))
                      * inverse_transpose[:, None, None, :] * inverse[None, :, :, None]
                      + self.lmbda * inverse_transpose[:, :, None, None] * inverse_transpose[None, None])
        for i in range(3):
            for J in range(3):
                elasticity[i, J, i, J] += self.mu
        return elasticity


MATERIALS: dict[str, type[Material]] = {cls.name: cls for cls in (StVenantKirchhoff, NeoHookean)}


def make_material(name: str, young: float, poisson: float) -> Material:
    """The material called ``name`` (a key of MATERIALS) from Young's modulus and Poisson's ratio."""
    if name not in MATERIALS:
        raise InputError(f"make_material: unknown material {name!r}; expected one of "
                         f"{sorted(MATERIALS)}")
    return MATERIALS[name].from_young_poisson(young, poisson)
