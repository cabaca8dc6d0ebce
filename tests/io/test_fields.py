import meshio
import numpy as np
import pytest

from hodphys.fem import box_tet_mesh
from hodphys.io import plot_time_series, read_pvd, write_vtu_series


def test_vtu_series_and_pvd_list_every_frame(tmp_path, rng):
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (2, 1, 1))
    times = np.array([0.0, 0.5, 1.25])
    displacement = rng.standard_normal((3, mesh.n_points, 3))
    speed = rng.standard_normal((3, mesh.n_points))
    pvd = write_vtu_series(tmp_path / "fields", "beam", mesh.points, mesh.cells, times,
                           {"displacement": displacement, "speed": speed})
    frames = read_pvd(pvd)
    assert [time for time, _ in frames] == [0.0, 0.5, 1.25]
    last = meshio.read(frames[-1][1])
    np.testing.assert_allclose(last.points, mesh.points)
    np.testing.assert_array_equal(last.cells_dict["tetra"], mesh.cells)
    np.testing.assert_allclose(last.point_data["displacement"], displacement[-1])
    np.testing.assert_allclose(last.point_data["speed"], speed[-1])


def test_vtu_series_checks_field_shapes(tmp_path):
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (1, 1, 1))
    with pytest.raises(ValueError, match=r"expected point_data\['u'\] of shape \(2, 8, …\)"):
        write_vtu_series(tmp_path, "x", mesh.points, mesh.cells, np.zeros(2), {"u": np.zeros((2, 7, 3))})


def test_time_series_plot(tmp_path):
    times = np.linspace(0.0, 1.0, 11)
    path = plot_time_series(tmp_path / "plot.png", times,
                            {"tip [m]": {"z": -times**2, "y": 0 * times}, "energy [J]": {"E": 1 + 0 * times}},
                            title="beam")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"expected 'tip' / 'z' of shape \(11,\) \(like times\), got \(3,\)"):
        plot_time_series(tmp_path / "bad.png", times, {"tip": {"z": np.zeros(3)}})
