import numpy as np
import pytest

from hodphys.fem import LoadHistory, body_force, box_tet_mesh, end_load
from hodphys.fem.loads import faces_on_plane, half_sine_pulse


def test_body_force_sums_to_the_weight():
    mesh = box_tet_mesh((2.0, 1.0, 0.5), (3, 2, 2))
    forces = body_force(mesh, density=3.0, acceleration=np.array([0.0, 0.0, -9.81]))
    np.testing.assert_allclose(forces.sum(axis=0), [0.0, 0.0, -3.0 * 1.0 * 9.81])


def test_end_load_is_a_uniform_traction_on_the_tip_face():
    mesh = box_tet_mesh((2.0, 1.0, 1.0), (2, 2, 2))
    forces = end_load(mesh, np.array([0.0, 5.0, -8.0]))
    np.testing.assert_allclose(forces.sum(axis=0), [0.0, 5.0, -8.0])
    loaded = np.flatnonzero(np.abs(forces).sum(axis=1))
    np.testing.assert_allclose(mesh.points[loaded, 0], 2.0)
    # a uniform traction has no moment about the face centre (0.5, 0.5) in y–z
    arm = mesh.points[loaded, 1:] - 0.5
    np.testing.assert_allclose((arm * forces[loaded, 2:3]).sum(axis=0), 0.0, atol=1e-12)


def test_faces_on_plane_error():
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (1, 1, 1))
    with pytest.raises(ValueError, match=r"no boundary face lies on X\[1\] = 0.5"):
        faces_on_plane(mesh, axis=1, value=0.5)


def test_load_history_pulse():
    history = LoadHistory(steady=np.array([1.0]), pulse=np.array([2.0]), pulse_duration=0.5)
    np.testing.assert_allclose(history(0.25), [3.0])
    np.testing.assert_allclose(history(0.75), [1.0])
    assert half_sine_pulse(-0.1, 1.0) == 0.0
    np.testing.assert_allclose(LoadHistory(np.array([1.0]), np.array([2.0]))(0.25), [1.0])
