import numpy as np
import pytest

from hodphys.rom import full_mass_basis, mass_pca


def test_pca_basis_is_mass_orthonormal_and_ordered(beam, snapshots):
    basis = mass_pca(snapshots, beam.body.mass, 6)
    gram = basis.basis.T @ (beam.body.mass @ basis.basis)
    assert np.abs(gram - np.eye(6)).max() < 1e-12
    assert np.all(np.diff(basis.singular_values) <= 0)
    # z = UᵀM(u − u₀) inverts u = u₀ + Uz on the subspace
    z = np.arange(6.0) * 1e-3
    assert np.allclose(basis.coordinates(basis.displacement(z)), z, rtol=0, atol=1e-15)


def test_pca_captures_snapshots_better_with_more_modes(beam, snapshots):
    errors = []
    for modes in (2, 4, 8):
        basis = mass_pca(snapshots, beam.body.mass, modes)
        errors.append(np.linalg.norm(basis.displacement(basis.coordinates(snapshots)) - snapshots))
    assert errors[0] > errors[1] > errors[2]


def test_full_basis_spans_everything(beam, snapshots):
    basis = full_mass_basis(beam.body.mass)
    assert np.allclose(basis.displacement(basis.coordinates(snapshots[7])), snapshots[7], rtol=0, atol=1e-14)


def test_nan_snapshots_are_named(beam, snapshots):
    bad = snapshots.copy()
    bad[5, 3] = np.nan
    with pytest.raises(ValueError, match=r"snapshots \[5\] contain NaN"):
        mass_pca(bad, beam.body.mass, 3)


def test_snapshots_of_another_mesh_are_refused(beam, snapshots):
    with pytest.raises(ValueError, match=r"expected displacement snapshots of shape \(T, 162\)"):
        mass_pca(snapshots[:, :-3], beam.body.mass, 3)


def test_more_modes_than_snapshots_is_refused(beam, snapshots):
    with pytest.raises(ValueError, match="span only"):
        mass_pca(snapshots[:3], beam.body.mass, 5)
