"""Grid fields as VTU: points, quadrilaterals and point data read back by meshio."""
import meshio
import numpy as np
import pytest

from hodphys.io.grid import grid_quads, write_grid_vtu


def test_quads_are_counter_clockwise_cells_of_the_grid():
    quads = grid_quads(2, 3)  # points 0 1 2 / 3 4 5
    assert quads.tolist() == [[0, 1, 4, 3], [1, 2, 5, 4]]


def test_fields_round_trip_through_a_vtu_file(tmp_path):
    grid_x, grid_y = np.meshgrid(np.linspace(0, 1, 4), np.linspace(0, 2, 3))
    path = write_grid_vtu(tmp_path / "out" / "f.vtu", grid_x, grid_y, {"u": grid_x * grid_y})
    mesh = meshio.read(path)
    assert mesh.points.shape == (12, 3) and np.allclose(mesh.points[:, 1], grid_y.ravel())
    assert np.allclose(mesh.point_data["u"], (grid_x * grid_y).ravel())
    assert [p.name for p in path.parent.iterdir()] == ["f.vtu"]  # no partial file left


def test_mismatched_shapes_are_refused(tmp_path):
    grid_x, grid_y = np.meshgrid(np.linspace(0, 1, 4), np.linspace(0, 1, 3))
    message = r"expected grid_x and grid_y of one shape \(n_y, n_x\), got \(3, 4\) and \(4,\)"
    with pytest.raises(ValueError, match=message):
        write_grid_vtu(tmp_path / "f.vtu", grid_x, grid_y[0], {})
    with pytest.raises(ValueError, match=r"field 'u' has shape \(12,\), expected the grid's \(3, 4\)"):
        write_grid_vtu(tmp_path / "f.vtu", grid_x, grid_y, {"u": grid_x.ravel()})
