import numpy as np
import pytest
import scipy.sparse as sp

from hodphys.fem import Dirichlet, ElasticBody, NeoHookean, StVenantKirchhoff, box_tet_mesh
from hodphys.fem.assembly import Assembler
from hodphys.fem.mass import consistent_mass, lumped_mass
from hodphys.fem.mesh import signed_volumes
from hodphys.metrics import relative_error


def body_with(material_class, lumped=False):
    mesh = box_tet_mesh((1.0, 0.2, 0.2), (5, 2, 2))
    return ElasticBody(mesh, material_class.from_young_poisson(1.0, 0.3), density=1.0,
                       dirichlet=Dirichlet.clamp_plane(mesh), lumped_mass=lumped)


@pytest.mark.parametrize("material_class", [NeoHookean, StVenantKirchhoff])
def test_force_and_hessian_vector_product_match_central_differences(material_class, rng):
    body = body_with(material_class)
    u = 0.02 * rng.standard_normal(body.n_free)
    direction = rng.standard_normal(body.n_free)
    step = 1e-6
    energy_slope = (body.strain_energy(u + step * direction)
                    - body.strain_energy(u - step * direction)) / (2 * step)
    force_change = (body.internal_force(u + step * direction)
                    - body.internal_force(u - step * direction)) / (2 * step)
    assert relative_error(body.internal_force(u) @ direction, energy_slope) <= 1e-6
    assert relative_error(body.stiffness(u) @ direction, force_change) <= 1e-6


def test_stiffness_is_symmetric_and_energy_vanishes_at_rest(rng):
    body = body_with(NeoHookean)
    stiffness = body.stiffness(0.02 * rng.standard_normal(body.n_free))
    assert abs(stiffness - stiffness.T).max() <= 1e-14 * abs(stiffness).max()
    zero = np.zeros(body.n_free)
    assert body.strain_energy(zero) == 0.0
    np.testing.assert_allclose(body.internal_force(zero), 0.0, atol=1e-15)


def test_assembler_matches_a_naive_sparse_sum(rng):
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (2, 2, 1))
    free = Dirichlet.clamp_plane(mesh).free_dofs
    assembler = Assembler(mesh.cells, free, mesh.n_points)
    element_matrices = rng.standard_normal((12, 12, mesh.n_cells))
    element_vectors = rng.standard_normal((12, mesh.n_cells))
    dofs = (3 * mesh.cells[:, :, None] + np.arange(3)).reshape(-1, 12)      # (e, 12)
    rows = np.repeat(dofs, 12, axis=1).ravel()
    cols = np.tile(dofs, (1, 12)).ravel()
    naive = sp.coo_matrix((element_matrices.transpose(2, 0, 1).ravel(), (rows, cols)),
                          shape=(mesh.n_dofs, mesh.n_dofs)).tocsr()[free][:, free]
    np.testing.assert_allclose(assembler.matrix(element_matrices).toarray(), naive.toarray(),
                               atol=1e-12)
    naive_vector = np.zeros(mesh.n_dofs)
    np.add.at(naive_vector, dofs.ravel(), element_vectors.T.ravel())
    np.testing.assert_allclose(assembler.vector(element_vectors), naive_vector[free], atol=1e-12)


def test_mass_matrices_carry_the_total_mass():
    mesh = box_tet_mesh((1.0, 0.5, 0.25), (3, 2, 1))
    everything = Assembler(mesh.cells, np.arange(mesh.n_dofs), mesh.n_points)
    volumes = signed_volumes(mesh.points, mesh.cells)
    consistent = consistent_mass(everything, volumes, density=2.0)
    lumped = lumped_mass(everything, volumes, density=2.0)
    x_translation = np.tile([1.0, 0.0, 0.0], mesh.n_points)
    for mass in (consistent, lumped):
        np.testing.assert_allclose(x_translation @ mass @ x_translation, 2.0 * 0.125)
    np.testing.assert_allclose(lumped.diagonal(), np.asarray(consistent.sum(axis=1)).ravel())
    # both share the stiffness pattern, so they add by their data arrays
    np.testing.assert_array_equal(consistent.indices, lumped.indices)


def test_body_argument_errors():
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (2, 1, 1))
    material = NeoHookean(mu=1.0, lmbda=1.0)
    clamp = Dirichlet.clamp_plane(mesh)
    with pytest.raises(ValueError, match="expected density > 0, got -1"):
        ElasticBody(mesh, material, -1.0, clamp)
    other = box_tet_mesh((1.0, 1.0, 1.0), (1, 1, 1))
    with pytest.raises(ValueError, match="Dirichlet set is for a mesh of 8 points, but this mesh has 12"):
        ElasticBody(mesh, material, 1.0, Dirichlet.clamp_plane(other))
    body = ElasticBody(mesh, material, 1.0, clamp)
    with pytest.raises(ValueError, match=r"expected a free-dof vector of shape \(24,\), got shape \(36,\)"):
        body.field(np.zeros(36))


def test_dirichlet_errors():
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (1, 1, 1))
    with pytest.raises(ValueError, match="expected at least one clamped node, got an empty set"):
        Dirichlet.clamp(mesh, [])
    with pytest.raises(ValueError, match=r"node ids must lie in \[0, 8\), got ids in \[3, 9\]"):
        Dirichlet.clamp(mesh, [3, 9])
    with pytest.raises(ValueError, match=r"no node lies on X\[0\] = 2.0; the mesh spans \[0.0, 1.0\]"):
        Dirichlet.clamp_plane(mesh, axis=0, value=2.0)


def test_dirichlet_dofs():
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (1, 1, 1))
    clamp = Dirichlet.clamp(mesh, [5, 1])
    np.testing.assert_array_equal(clamp.fixed_dofs, [3, 4, 5, 15, 16, 17])
    assert clamp.free_dofs.size == 18 and not np.isin(clamp.fixed_dofs, clamp.free_dofs).any()


def test_element_kernels_match_a_per_element_reference(rng):
    """Element-last kernels against a plain per-element loop (np.linalg, explicit sums)."""
    body = body_with(NeoHookean)
    geometry = body.geometry
    u = 0.01 * rng.standard_normal(body.n_free)
    F = body.deformation_gradient(u)
    stiffness = geometry.element_stiffness(body.material.elasticity(F))
    displacement = body.field(u)
    for element in (0, 7, body.mesh.n_cells - 1):
        nodes = body.mesh.cells[element]
        corners = body.mesh.points[nodes]
        shape_gradients = geometry.shape_gradients[:, :, element]
        # Σ_a ∂N_a/∂X = 0 and Σ_a X_a ⊗ ∂N_a/∂X = I for linear shape functions
        np.testing.assert_allclose(shape_gradients.sum(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(corners.T @ shape_gradients, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(F[:, :, element], np.eye(3) + displacement[nodes].T @ shape_gradients)
        A = body.material.elasticity(F[:, :, element:element + 1])[..., 0]
        B = np.zeros((3, 3, 4, 3))                     # ∂F_iJ/∂u_ak = δ_ik ∂N_a/∂X_J
        for i in range(3):
            B[i, :, :, i] = shape_gradients.T
        B = B.reshape(9, 12)
        expected = geometry.volumes[element] * B.T @ A.reshape(9, 9) @ B
        np.testing.assert_allclose(stiffness[:, :, element], expected, rtol=1e-12, atol=1e-9)
