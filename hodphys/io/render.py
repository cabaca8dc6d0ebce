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
        return "pyvista is not installed (pip install 'hodphys[render]')"
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


def render_deformed(path: str | Path, points: np.ndarray, cells: np.ndarray,
                    displacement: np.ndarray, title: str = "",
                    window_size: tuple[int, int] = (1400, 600)) -> Path:
    """PNG of the mesh moved by ``displacement`` (a, 3), coloured by |u|, over the undeformed
    outline; points (a, 3), cells (e, 4). Raises RuntimeError when rendering is unavailable."""
    reason = rendering_unavailable()
    if reason is not None:
        raise RuntimeError(f"render_deformed: off-screen rendering is unavailable: {reason}")
    import pyvista

    if displacement.shape != points.shape:
        raise ValueError(f"render_deformed: expected displacement of shape {points.shape} (like "
                         f"points), got {displacement.shape}")
    reference = pyvista.UnstructuredGrid({pyvista.CellType.TETRA: cells}, points)
    deformed = pyvista.UnstructuredGrid({pyvista.CellType.TETRA: cells}, points + displacement)
    deformed.point_data["|u| [m]"] = np.linalg.norm(displacement, axis=1)
    plotter = pyvista.Plotter(off_screen=True, window_size=window_size)
    plotter.set_background("white")
    plotter.add_mesh(reference.extract_feature_edges(), color="grey", opacity=0.5)
    plotter.add_mesh(deformed, scalars="|u| [m]", cmap="viridis", show_edges=True,
                     edge_color="black", line_width=0.5,
                     scalar_bar_args={"color": "black", "vertical": True})
    if title:
        plotter.add_text(title, color="black", font_size=12)
    plotter.view_xz()                    # side view: x to the right, z up
    plotter.camera.azimuth = 25
    plotter.camera.elevation = 20
    plotter.reset_camera()
    plotter.camera.zoom(1.5)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(path)
    plotter.close()
    return path
