import numpy as np
import pytest

from hodphys.fem import box_tet_mesh
from hodphys.io import render_deformed, render_side_by_side, rendering_unavailable
from hodphys.io import render as render_module

needs_rendering = pytest.mark.skipif(rendering_unavailable() is not None,
                                     reason=f"no off-screen rendering: {rendering_unavailable()}")


@needs_rendering
def test_render_of_a_bent_beam_is_a_png_with_colour(tmp_path):
    matplotlib_image = pytest.importorskip("matplotlib.image")
    mesh = box_tet_mesh((1.0, 0.1, 0.1), (10, 1, 1))
    displacement = np.zeros_like(mesh.points)
    displacement[:, 2] = -0.2 * mesh.points[:, 0] ** 2
    path = render_deformed(tmp_path / "beam.png", mesh.points, mesh.cells, displacement,
                           title="test", window_size=(400, 200))
    image = matplotlib_image.imread(path)
    assert image.shape[:2] == (200, 400)
    # not blank: the colour map puts saturated pixels on a white background
    saturation = image[..., :3].max(axis=-1) - image[..., :3].min(axis=-1)
    assert (saturation > 0.3).mean() > 0.01


@needs_rendering
def test_render_checks_the_displacement_shape(tmp_path):
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (1, 1, 1))
    with pytest.raises(ValueError, match=r"expected displacement of shape \(8, 3\) \(like points\), got \(3,\)"):
        render_deformed(tmp_path / "x.png", mesh.points, mesh.cells, np.zeros(3))


def test_unavailable_rendering_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(render_module, "rendering_unavailable", lambda: "no GPU, no EGL")
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (1, 1, 1))
    with pytest.raises(RuntimeError, match="off-screen rendering is unavailable: no GPU, no EGL"):
        render_deformed(tmp_path / "x.png", mesh.points, mesh.cells, np.zeros((8, 3)))


@needs_rendering
def test_side_by_side_render_has_one_panel_per_model(tmp_path):
    matplotlib_image = pytest.importorskip("matplotlib.image")
    mesh = box_tet_mesh((1.0, 0.1, 0.1), (10, 1, 1))
    bent = np.zeros_like(mesh.points)
    bent[:, 2] = -0.2 * mesh.points[:, 0] ** 2
    path = render_side_by_side(tmp_path / "pair.png", mesh.points, mesh.cells,
                               {"full": bent, "reduced": 0.8 * bent}, title="t = 1 s",
                               panel_size=(300, 200))
    image = matplotlib_image.imread(path)
    assert image.shape[:2] == (400, 300)
    saturation = image[..., :3].max(axis=-1) - image[..., :3].min(axis=-1)
    assert (saturation[:200] > 0.3).mean() > 0.01 and (saturation[200:] > 0.3).mean() > 0.01


@needs_rendering
def test_side_by_side_render_checks_its_input(tmp_path):
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (1, 1, 1))
    with pytest.raises(ValueError, match="expected at least one displacement"):
        render_side_by_side(tmp_path / "x.png", mesh.points, mesh.cells, {})
    with pytest.raises(ValueError, match=r"expected displacement of shape \(8, 3\)"):
        render_side_by_side(tmp_path / "x.png", mesh.points, mesh.cells, {"a": np.zeros(3)})
