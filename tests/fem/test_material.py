import numpy as np
import pytest

from hodphys.fem.material import (
    MATERIALS,
    NeoHookean,
    StVenantKirchhoff,
    lame_parameters,
    make_material,
)

MATERIAL_CLASSES = [StVenantKirchhoff, NeoHookean]


def random_deformations(rng, n=5, size=0.3):
    """F[i, J, e] near the identity; shape (3, 3, n)."""
    return np.eye(3)[:, :, None] + size * rng.standard_normal((3, 3, n))


def central_difference(function, F, direction, step=1e-6):
    return (function(F + step * direction) - function(F - step * direction)) / (2 * step)


@pytest.mark.parametrize("cls", MATERIAL_CLASSES)
def test_stress_and_elasticity_are_derivatives(cls, rng):
    """P = ∂ψ/∂F and A = ∂P/∂F along random directions, against central differences."""
    material = cls(mu=1.3, lmbda=2.1)
    F = random_deformations(rng)
    direction = rng.standard_normal(F.shape)
    np.testing.assert_allclose(np.einsum("iJe,iJe->e", material.stress(F), direction),
                               central_difference(material.energy, F, direction), rtol=1e-7)
    np.testing.assert_allclose(np.einsum("iJkLe,kLe->iJe", material.elasticity(F), direction),
                               central_difference(material.stress, F, direction), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("cls", MATERIAL_CLASSES)
def test_small_strain_limit_is_linear_elasticity(cls):
    mu, lmbda = 1.3, 2.1
    material = cls(mu=mu, lmbda=lmbda)
    identity = np.eye(3)[:, :, None]
    assert material.energy(identity)[0] == 0.0
    np.testing.assert_array_equal(material.stress(identity), 0.0)
    d = np.eye(3)
    hooke = (lmbda * np.einsum("iJ,kL->iJkL", d, d)
             + mu * (np.einsum("ik,JL->iJkL", d, d) + np.einsum("iL,Jk->iJkL", d, d)))
    np.testing.assert_allclose(material.elasticity(identity)[..., 0], hooke, atol=1e-14)


def test_neo_hookean_keeps_digits_at_tiny_strain():
    material = NeoHookean(mu=1.0, lmbda=1.0)
    strain = 1e-9
    F = np.diag([1.0 + strain, 1.0, 1.0])[:, :, None]
    # ψ ≈ (2μ + λ) ε²/2 for uniaxial strain ε
    np.testing.assert_allclose(material.energy(F), 1.5 * strain**2, rtol=1e-6)


def test_neo_hookean_energy_is_infinite_for_inverted_elements():
    material = NeoHookean(mu=1.0, lmbda=1.0)
    F = np.stack([np.diag([1.0, 1.0, -0.5]), np.diag([1.0, 1.0, 0.0]), np.eye(3)], axis=-1)
    np.testing.assert_array_equal(material.energy(F), [np.inf, np.inf, 0.0])


def test_lame_parameters_and_material_factory():
    mu, lmbda = lame_parameters(young=2.6, poisson=0.3)
    np.testing.assert_allclose([mu, lmbda], [1.0, 1.5])
    assert set(MATERIALS) == {"stvk", "neo-hookean"}
    material = make_material("neo-hookean", young=2.6, poisson=0.3)
    assert isinstance(material, NeoHookean) and material.modulus == pytest.approx(3.5)


def test_unknown_material():
    with pytest.raises(ValueError, match=r"unknown material 'rubber'; expected one of \['neo-hookean', 'stvk'\]"):
        make_material("rubber", young=1.0, poisson=0.3)


@pytest.mark.parametrize("young, poisson, match", [
    (0.0, 0.3, "expected a finite young > 0"),
    (1.0, 0.5, r"expected −1 < poisson < 0.5"),
])
def test_bad_elastic_constants(young, poisson, match):
    with pytest.raises(ValueError, match=match):
        lame_parameters(young, poisson)
