"""Off-screen PNG renders of a deformed tet mesh coloured by |u|, with pyvista (optional extra
``render``).

Headless machines: VTK ≥ 9.4 wheels pick their OpenGL window at run time; with no X display we ask
for the EGL one (``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow``), which renders in software
through Mesa's libEGL (Debian/Ubuntu: ``libegl1`` + ``libegl-mesa0``; no X server, no xvfb). An
OSMesa build of VTK or ``xvfb-run`` also works. Whether it works here is probed once, in a
subprocess so that a crashing driver cannot take the caller down: ``rendering_available()``.

Index letters: a nodes, e elements.
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

PROBE = """
import sys
import pyvista
plotter = pyvista.Plotter(off_screen=True, window_size=(64, 64))
plotter.add_mesh(pyvista.Sphere())
plotter.screenshot(sys.argv[1])
"""
PROBE_SECONDS = 120


def configure_headless() -> None:
    """Ask VTK for its EGL window when there is no X display (before the first render window)."""
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


@functools.cache
def rendering_unavailable() -> str | None:
    """None if off-screen rendering works here, else the reason (pyvista missing, no OpenGL …)."""
    configure_headless()
    try:
        import pyvista  # noqa: F401
    except ImportError:
        return "pyvista is not installed (pip install pyvista; it is a dependency of hodphys)"
    with tempfile.TemporaryDirectory() as scratch:
        png = Path(scratch) / "probe.png"
        try:
            probe = subprocess.run([sys.executable, "-c", PROBE, str(png)], capture_output=True,
                                   text=True, timeout=PROBE_SECONDS, env=os.environ.copy())
        except subprocess.TimeoutExpired:
            return f"a test render did not finish within {PROBE_SECONDS} s"
        if probe.returncode != 0 or not png.is_file():
            tail = (probe.stderr or probe.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"a test render failed (exit code {probe.returncode}: {tail[0]})"
    return None


def rendering_available() -> bool:
    return rendering_unavailable() is None


def _add_deformed(plotter, pyvista, points: np.ndarray, cells: np.ndarray, displacement: np.ndarray,
                  color_limits: tuple[float, float] | None = None) -> None:
    """The undeformed outline and the deformed mesh coloured by |u| in the plotter's current view."""
    if displacement.shape != points.shape:
        raise ValueError(f"render: expected displacement of shape {points.shape} (like points), got "
                         f"{displacement.shape}")
    reference = pyvista.UnstructuredGrid({pyvista.CellType.TETRA: cells}, points)
    deformed = pyvista.UnstructuredGrid({pyvista.CellType.TETRA: cells}, points + displacement)
    deformed.point_data["|u| [m]"] = np.linalg.norm(displacement, axis=1)
    plotter.add_mesh(reference.extract_feature_edges(), color="grey", opacity=0.5)
    plotter.add_mesh(deformed, scalars="|u| [m]", cmap="viridis", show_edges=True, clim=color_limits,
                     edge_color="black", line_width=0.5,
                     scalar_bar_args={"color": "black", "vertical": True})
    plotter.view_xz()                    # side view: x to the right, z up
    plotter.camera.azimuth = 25
    plotter.camera.elevation = 20
    plotter.reset_camera()
    plotter.camera.zoom(1.5)


def _pyvista():
    reason = rendering_unavailable()
    if reason is not None:
        raise RuntimeError(f"render: off-screen rendering is unavailable: {reason}")
    import pyvista

    return pyvista


def _screenshot(plotter, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(path)
    plotter.close()
    return path


def render_deformed(path: str | Path, points: np.ndarray, cells: np.ndarray,
                    displacement: np.ndarray, title: str = "",
                    window_size: tuple[int, int] = (1400, 600)) -> Path:
    """PNG of the mesh moved by ``displacement`` (a, 3), coloured by |u|, over the undeformed
    outline; points (a, 3), cells (e, 4). Raises RuntimeError when rendering is unavailable."""
    pyvista = _pyvista()
    if displacement.shape != points.shape:
        raise ValueError(f"render_deformed: expected displacement of shape {points.shape} (like "
                         f"points), got {displacement.shape}")
    plotter = pyvista.Plotter(off_screen=True, window_size=window_size)
    plotter.set_background("white")
    _add_deformed(plotter, pyvista, points, cells, displacement)
    if title:
        plotter.add_text(title, color="black", font_size=12)
    return _screenshot(plotter, path)


def render_side_by_side(path: str | Path, points: np.ndarray, cells: np.ndarray,
                        displacements: dict[str, np.ndarray], title: str = "",
                        panel_size: tuple[int, int] = (1400, 450)) -> Path:
    """PNG with one panel per labelled displacement (a, 3) of the same mesh, stacked top to bottom
    (slender bodies fill the width), on one colour scale (e.g. full order above reduced models)."""
    pyvista = _pyvista()
    if not displacements:
        raise ValueError("render_side_by_side: expected at least one displacement, got none")
    for name, displacement in displacements.items():
        if displacement.shape != points.shape:
            raise ValueError(f"render_side_by_side: expected displacement of shape {points.shape} (like "
                             f"points) for {name!r}, got {displacement.shape}")
    largest = max(float(np.linalg.norm(u, axis=1).max()) for u in displacements.values())
    plotter = pyvista.Plotter(off_screen=True, shape=(len(displacements), 1),
                              window_size=(panel_size[0], panel_size[1] * len(displacements)))
    plotter.set_background("white")
    for row, (name, displacement) in enumerate(displacements.items()):
        plotter.subplot(row, 0)
        _add_deformed(plotter, pyvista, points, cells, displacement, (0.0, largest))
        plotter.add_text(f"{name}  {title}" if row == 0 and title else name, color="black", font_size=11)
    return _screenshot(plotter, path)
