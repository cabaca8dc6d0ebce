"""Cubature forces and stiffness products in torch, as one linear map and a material law.

Index letters: c cubature elements, p prefix size, r directions, i/k spatial and J/L reference
coordinates.

For linear tets the deformation gradient of element e is affine in the prefix coordinates z:

    F_e(z) = F⁰_e + D_e z,    D_e[iJ, :] = Σ_a U_e[(a, i), :] ∂N_a/∂X_J    (9, p),

and the projected element force is U_eᵀ f_e = V_e Σ_a,i,J U_e[(a, i), :] P_iJ ∂N_a/∂X_J = V_e D_eᵀ P_e.
So the cubature force, and its stiffness product along directions Γ (p, r), are

    F(z) = Σ_e w_e V_e D_eᵀ P(F_e),    K(z) Γ = Σ_e w_e V_e D_eᵀ dP(F_e)[D_e Γ],

two (c·9, p) matrices fixed once, the material's P and its directional derivative dP — no
12 × 12 element matrices, no 9 × 9 elasticity tensors. In torch (float64), so that it traces and
compiles with the decoder's derivative calls; equal to :class:`hodphys.rom.forces.ElementForces`
(the NumPy kernels of :mod:`hodphys.fem`) to round-off.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from hodphys.fem import NeoHookean, StVenantKirchhoff
from hodphys.fem.material import Material
from hodphys.rom.forces import ElementForces


def product(A: Tensor, B: Tensor) -> Tensor:
    """A B of 3 × 3 matrices A[..., i, k, c], B[..., k, j, c] (leading axes broadcast): three
    broadcast products, elementwise over the elements c (the last, contiguous axis, along which
    compiled code vectorises), where a batched matmul would be one library call per product."""
    return sum(A[..., :, k, None, :] * B[..., None, k, :, :] for k in range(3))


def transpose(A: Tensor) -> Tensor:
    return A.transpose(-3, -2)


def trace(A: Tensor) -> Tensor:
    """tr A as (..., 1, 1, c) of A[..., i, j, c]."""
    return (A[..., 0, 0, :] + A[..., 1, 1, :] + A[..., 2, 2, :])[..., None, None, :]


def cofactor_inverse(F: Tensor) -> tuple[Tensor, Tensor]:
    """(det F (..., 1, 1, c), F⁻¹ (..., 3, 3, c)) of F[..., i, J, c] by explicit cofactors. The nine
    entries are scaled by 1/det and stacked in one cat, which compiled code writes to memory once;
    a division by det after the stack was inlined into every use of F⁻¹ (≈ 35 % of the law)."""
    adjugate = [[None] * 3 for _ in range(3)]
    for i in range(3):
        i1, i2 = (i + 1) % 3, (i + 2) % 3        # cyclic order gives the sign for free
        for j in range(3):
            j1, j2 = (j + 1) % 3, (j + 2) % 3
            adjugate[j][i] = F[..., i1, j1, :] * F[..., i2, j2, :] - F[..., i1, j2, :] * F[..., i2, j1, :]
    det = F[..., 0, 0, :] * adjugate[0][0] + F[..., 0, 1, :] * adjugate[1][0] + F[..., 0, 2, :] * adjugate[2][0]
    reciprocal = 1 / det
    entries = [adjugate[i][j] * reciprocal for i in range(3) for j in range(3)]
    return det[..., None, None, :], torch.stack(entries, dim=-2).unflatten(-2, (3, 3))


def neo_hookean(material: NeoHookean, F: Tensor, dF: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """P = μ(F − F⁻ᵀ) + λ ln J F⁻ᵀ and dP[δF] = μ δF + (μ − λ ln J) (F⁻¹ δF F⁻¹)ᵀ + λ tr(F⁻¹δF) F⁻ᵀ
    for F[i, J, c] and directions δF[r, i, J, c] (None: P only)."""
    det, inverse = cofactor_inverse(F)
    inverse_t, log_det = transpose(inverse), torch.log(det)
    stress = material.mu * (F - inverse_t) + material.lmbda * log_det * inverse_t
    if dF is None:
        return stress, None
    pulled = product(inverse, dF)                                                   # F⁻¹ δF
    variation = (material.mu * dF + (material.mu - material.lmbda * log_det) * transpose(product(pulled, inverse))
                 + material.lmbda * trace(pulled) * inverse_t)
    return stress, variation


def st_venant_kirchhoff(material: StVenantKirchhoff, F: Tensor, dF: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """P = F S, S = λ tr(E) I + 2μE, E = (H + Hᵀ + HᵀH)/2 (H = F − I); dP[δF] = δF S + F dS with
    dS = λ tr(dE) I + 2μ dE, dE = (Fᵀ δF + δFᵀ F)/2; F[i, J, c], δF[r, i, J, c] (None: P only)."""
    eye = torch.eye(3, dtype=F.dtype, device=F.device)[:, :, None]
    H = F - eye
    strain = 0.5 * (H + transpose(H) + product(transpose(H), H))
    second_piola = material.lmbda * trace(strain) * eye + 2 * material.mu * strain
    if dF is None:
        return product(F, second_piola), None
    stretch = product(transpose(F), dF)
    strain_variation = 0.5 * (stretch + transpose(stretch))
    second_variation = material.lmbda * trace(strain_variation) * eye + 2 * material.mu * strain_variation
    return product(F, second_piola), product(dF, second_piola) + product(F, second_variation)


MATERIAL_LAWS = {NeoHookean: neo_hookean, StVenantKirchhoff: st_venant_kirchhoff}


def material_law(material: Material):
    """The torch law (P, dP) of ``material``; None where there is none (the NumPy kernels then)."""
    law = MATERIAL_LAWS.get(type(material))
    return None if law is None else (lambda F, dF: law(material, F, dF))


class TorchCubature:
    """F(z), K(z) Γ and Γᵀ K(z) Γ of a cubature (an ``ElementForces``) as torch functions of the prefix
    coordinates z (p,) and directions Γ (p, r).

    Stored: Dᵀ (p, 9·c), w V per element (c,) and F⁰ (3, 3, c), the columns
    ordered (i, J, e) — the element last. Products are laid out with the 9·c axis last (Γᵀ Dᵀ
    rather than D Γ): the library GEMM is several times faster for the long output rows, and the
    material law then runs on (r, 3, 3, c) blocks, vectorised along the elements."""

    def __init__(self, forces: ElementForces) -> None:
        law = material_law(forces.body.material)
        if law is None:
            raise ValueError(f"TorchCubature: no torch law for the material {type(forces.body.material).__name__}; "
                             f"expected one of {sorted(cls.__name__ for cls in MATERIAL_LAWS)}")
        self.law, self.size = law, forces.size
        c, p = forces.size, forces.basis.size
        gradients = forces.geometry.shape_gradients.transpose(2, 0, 1)                    # (c, a, J)
        rows = forces.element_basis.reshape(c, 4, 3, p)                                    # (c, a, i, p)
        linear = np.einsum("caip,caJ->piJc", rows, gradients).reshape(p, 9 * c)            # Dᵀ (p, 9·c)
        offset = np.eye(3)[:, :, None] + np.einsum("cai,caJ->iJc", forces.element_offset.reshape(c, 4, 3),
                                                   gradients)
        element_scale = forces.weights * forces.geometry.volumes                           # w_e V_e (c,)
        self.linear_t = torch.from_numpy(np.ascontiguousarray(linear))
        self.element_scale = torch.from_numpy(element_scale)
        self.offset = torch.from_numpy(np.ascontiguousarray(offset))                      # F⁰ (3, 3, c)

    def _stress(self, z: Tensor, directions: Tensor, leading_identity: bool) -> tuple[Tensor, Tensor, Tensor]:
        """((D Γ)ᵀ (r, 9·c), w V P (9·c, 1), w V dP[D Γ] (r, 9·c)) at F = F⁰ + D z. The weights multiply
        dP while it has the element axis apart: on the flat (r, 9·c) view compiled code indexed the
        transposed products in dP by division and remainder, element by element (≈ 30 µs, not vectorised)."""
        c, r = self.size, directions.shape[1]
        if leading_identity:     # Γ = [I; Γ_k]: (D Γ)ᵀ = D_rᵀ + Γ_kᵀ D_kᵀ, a GEMM of p − r rows
            deformation = z[None] @ self.linear_t
            linear = self.linear_t[:r] + directions[r:].T @ self.linear_t[r:]
        else:
            both = torch.cat([z[None], directions.T]) @ self.linear_t                     # (1 + r, 9·c)
            deformation, linear = both[:1], both[1:]
        stress, variation = self.law(deformation.reshape(3, 3, c) + self.offset, linear.reshape(-1, 3, 3, c))
        return linear, self._weighted(stress), (variation * self.element_scale).reshape(-1, 9 * c)

    def _weighted(self, stress: Tensor) -> Tensor:
        """w V P (9·c, 1) of P (3, 3, c): then F = Dᵀ (w V P), one fixed matrix for F and D Γ."""
        return (stress * self.element_scale).reshape(-1, 1)

    def force(self, z: Tensor) -> Tensor:
        """F(z) = Σ_e w_e V_e D_eᵀ P(F_e) (p,)."""
        c = self.size
        deformation = (z[None] @ self.linear_t).reshape(3, 3, c) + self.offset
        stress, _ = self.law(deformation, None)
        return (self.linear_t @ self._weighted(stress))[:, 0]

    def force_and_projected_stiffness(self, z: Tensor, directions: Tensor,
                                      leading_identity: bool = False) -> tuple[Tensor, Tensor]:
        """(F(z) (p,), Γᵀ K(z) Γ (r, r)) — the latter as Σ_e w_e V_e (D_e Γ)ᵀ dP[D_e Γ], never K Γ.
        ``leading_identity``: Γ's first r rows are the identity (the decoder's G = [I; ∂h])."""
        linear, stress, variation = self._stress(z, directions, leading_identity)
        return (self.linear_t @ stress)[:, 0], linear @ variation.T
