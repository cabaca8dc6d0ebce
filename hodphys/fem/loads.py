"""External loads as consistent nodal forces: gravity (body force), surface tractions, tip loads,
and their time histories.

Index letters: a nodes, i coordinates, e elements, f boundary triangles.
For linear tets and linear triangles the consistent nodal force of a constant load splits it
equally between the corners:

    body force b (per unit volume):  f_a += b V_e / 4   for each corner a of tet e,
    traction t (per unit area):      f_a += t A_f / 3   for each corner a of triangle f.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hodphys.fem.mesh import TetMesh, boundary_faces, signed_volumes


def body_force(mesh: TetMesh, density: float, acceleration: np.ndarray) -> np.ndarray:
    """Nodal forces of the body force ρ g (e.g. gravity, g = (0, 0, −9.81)); shape (a, 3)."""
    volumes = signed_volumes(mesh.points, mesh.cells)
    share = np.zeros(mesh.n_points)
    np.add.at(share, mesh.cells.ravel(), np.repeat(density * volumes / 4.0, 4))
    return share[:, None] * np.asarray(acceleration, dtype=np.float64)


def faces_on_plane(mesh: TetMesh, axis: int, value: float) -> np.ndarray:
    """Boundary triangles with all three corners on the plane X[axis] = value; shape (f, 3)."""
    on_plane = np.zeros(mesh.n_points, dtype=bool)
    on_plane[mesh.nodes_on_plane(axis, value)] = True
    faces = boundary_faces(mesh)
    selected = faces[on_plane[faces].all(axis=1)]
    if selected.size == 0:
        raise ValueError(f"faces_on_plane: no boundary face lies on X[{axis}] = {value}; the mesh "
                         f"spans [{mesh.points[:, axis].min()}, {mesh.points[:, axis].max()}]")
    return selected


def face_areas(mesh: TetMesh, faces: np.ndarray) -> np.ndarray:
    """Areas of triangles (f, 3) in the reference configuration; shape (f,)."""
    corners = mesh.points[faces]
    return 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0],
                                         corners[:, 2] - corners[:, 0]), axis=1)


def surface_traction(mesh: TetMesh, faces: np.ndarray, traction: np.ndarray) -> np.ndarray:
    """Nodal forces of a constant dead traction t (force per reference area) on triangles (f, 3);
    shape (a, 3)."""
    share = np.zeros(mesh.n_points)
    np.add.at(share, faces.ravel(), np.repeat(face_areas(mesh, faces) / 3.0, 3))
    return share[:, None] * np.asarray(traction, dtype=np.float64)


def end_load(mesh: TetMesh, total_force: np.ndarray, axis: int = 0) -> np.ndarray:
    """A dead force spread as a uniform traction over the end face X[axis] = max (a beam's tip);
    the nodal forces sum to total_force. Shape (a, 3)."""
    total_force = np.asarray(total_force, dtype=np.float64)
    if total_force.shape != (3,) or not np.all(np.isfinite(total_force)):
        raise ValueError(f"end_load: expected a finite force of 3 components (x, y, z), got {total_force.tolist()}")
    faces = faces_on_plane(mesh, axis, mesh.points[:, axis].max())
    area = face_areas(mesh, faces).sum()
    return surface_traction(mesh, faces, np.asarray(total_force, dtype=np.float64) / area)


def half_sine_pulse(time: float, duration: float) -> float:
    """s(t) = sin(π t / duration) on [0, duration], 0 afterwards (a smooth tap)."""
    return float(np.sin(np.pi * time / duration)) if 0.0 <= time <= duration else 0.0


@dataclass(frozen=True)
class LoadHistory:
    """f(t) = steady + s(t) · pulse, with s the half-sine pulse of length pulse_duration.

    steady, pulse : ndarray, shape (n,) — force vectors (e.g. gravity, a tip load), on the free dofs.
    """

    steady: np.ndarray
    pulse: np.ndarray
    pulse_duration: float = 0.0

    def __call__(self, time: float) -> np.ndarray:
        if self.pulse_duration <= 0.0:
            return self.steady
        return self.steady + half_sine_pulse(time, self.pulse_duration) * self.pulse
