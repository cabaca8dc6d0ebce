"""A cantilever beam along x: clamped at x = min, loaded at the tip x = max.

Index letters: a nodes, i coordinates; u free-dof vectors of shape (n_free,).

    beam = Cantilever.build(read_mesh("meshes/beam_coarse.vtu"),
                            NeoHookean.from_young_poisson(1e7, 0.3), density=1000.0)
    f = beam.gravity() + beam.tip_force([0, 0, -100.0])
    beam.tip_displacement(u)        # (3,) mean displacement of the tip face
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hodphys.fem.body import ElasticBody
from hodphys.fem.boundary import Dirichlet
from hodphys.fem.loads import body_force, end_load
from hodphys.fem.material import Material
from hodphys.fem.mesh import TetMesh

STANDARD_GRAVITY = 9.81


@dataclass(frozen=True)
class Cantilever:
    """body: the clamped elastic body; tip_nodes: ids of the nodes on the face x = length."""

    body: ElasticBody
    tip_nodes: np.ndarray

    @classmethod
    def build(cls, mesh: TetMesh, material: Material, density: float,
              lumped_mass: bool = False, linear_solver: str = "banded-cholesky") -> Cantilever:
        """Clamp the face x = min of the mesh; the tip is the face x = max."""
        x = mesh.points[:, 0]
        dirichlet = Dirichlet.clamp_plane(mesh, axis=0, value=float(x.min()))
        body = ElasticBody(mesh, material, density, dirichlet, lumped_mass=lumped_mass,
                           linear_solver=linear_solver)
        return cls(body=body, tip_nodes=mesh.nodes_on_plane(0, float(x.max())))

    @property
    def mesh(self) -> TetMesh:
        return self.body.mesh

    @property
    def length(self) -> float:
        return float(np.ptp(self.mesh.points[:, 0]))

    def gravity(self, acceleration: float = STANDARD_GRAVITY) -> np.ndarray:
        """Free-dof nodal forces of the beam's weight, pulling along −z; shape (n_free,)."""
        nodal = body_force(self.mesh, self.body.density, np.array([0.0, 0.0, -acceleration]))
        return self.body.restrict(nodal)

    def tip_force(self, total_force: np.ndarray) -> np.ndarray:
        """Free-dof nodal forces of a dead force (3,) spread uniformly over the tip face."""
        return self.body.restrict(end_load(self.mesh, np.asarray(total_force, dtype=float)))

    def tip_displacement(self, u: np.ndarray) -> np.ndarray:
        """Mean displacement of the tip-face nodes; u (n_free,) or (t, n_free) → (3,) or (t, 3)."""
        full = np.zeros((*u.shape[:-1], self.mesh.n_dofs))
        full[..., self.body.assembler.free_dofs] = u
        nodal = full.reshape(*u.shape[:-1], self.mesh.n_points, 3)
        return nodal[..., self.tip_nodes, :].mean(axis=-2)
