import numpy as np
import pytest

from hodphys.rom import ElementForces, ProjectedForces, fit_cubature, full_cubature, mass_pca


@pytest.fixture(scope="module")
def basis(beam, snapshots):
    return mass_pca(snapshots, beam.body.mass, 8)


def test_every_element_at_weight_one_is_the_full_integration(beam, basis, snapshots):
    cubature, exact = full_cubature(beam.body, basis).forces(), ProjectedForces(beam.body, basis)
    z = basis.coordinates(snapshots[15])
    force, stiffness = cubature.evaluate(z)
    reference_force, reference_stiffness = exact.evaluate(z)
    assert np.abs(force - reference_force).max() <= 1e-12 * np.abs(reference_force).max()
    assert np.abs(stiffness - reference_stiffness).max() <= 1e-12 * np.abs(reference_stiffness).max()
    assert cubature.energy(z) == pytest.approx(exact.energy(z), rel=1e-12)


def test_stiffness_is_the_derivative_of_the_force(beam, basis, snapshots):
    forces = ElementForces(beam.body, basis, np.array([3, 40, 77]), np.array([2.0, 0.5, 1.5]))
    z = basis.coordinates(snapshots[10])
    _, stiffness = forces.evaluate(z)
    step = 1e-7
    finite = np.stack([(forces.force(z + step * e) - forces.force(z - step * e)) / (2 * step)
                       for e in np.eye(basis.size)], axis=1)
    assert np.abs(stiffness - finite).max() <= 1e-6 * np.abs(stiffness).max()


@pytest.mark.parametrize("exact", [True, False], ids=["projected", "cubature"])
def test_stiffness_product_is_the_stiffness_times_the_directions(beam, basis, snapshots, exact):
    forces = ProjectedForces(beam.body, basis) if exact else \
        ElementForces(beam.body, basis, np.array([3, 40, 77, 90]), np.array([2.0, 0.5, 1.5, 1.0]))
    z = basis.coordinates(snapshots[12])
    directions = np.random.default_rng(0).standard_normal((basis.size, 3))
    product = forces.stiffness_product(z, directions)
    reference = forces.evaluate(z)[1] @ directions
    assert product.shape == (basis.size, 3)
    assert np.abs(product - reference).max() <= 1e-12 * np.abs(reference).max()


def test_fitted_cubature_is_sparse_and_generalises(beam, basis, snapshots):
    training, held_out = snapshots[::2], snapshots[1::2]
    cubature = fit_cubature(beam.body, basis, basis.coordinates(training), tolerance=0.05, seed=1)
    assert cubature.size < beam.mesh.n_cells // 2
    assert np.all(cubature.weights > 0)
    assert cubature.training_error <= 0.05
    errors = cubature.relative_errors(basis.coordinates(held_out))
    assert np.median(errors) < 0.2


def test_bad_poses_and_options_are_named(beam, basis):
    with pytest.raises(ValueError, match=r"expected finite poses of shape \(T, 8\)"):
        fit_cubature(beam.body, basis, np.zeros((4, 7)))
    with pytest.raises(ValueError, match="with NaN/inf"):
        fit_cubature(beam.body, basis, np.full((4, 8), np.nan))
    with pytest.raises(ValueError, match="expected 0 < tolerance < 1"):
        fit_cubature(beam.body, basis, np.zeros((4, 8)), tolerance=2.0)
    with pytest.raises(ValueError, match=r"element ids must lie in \[0, 144\)"):
        ElementForces(beam.body, basis, np.array([144]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"ids and weights of one shape"):
        ElementForces(beam.body, basis, np.array([1, 2]), np.array([1.0]))
