"""Homogeneous Dirichlet conditions: nodes whose displacement is held at zero (a clamped end).

A global degree of freedom of node n and coordinate i is 3n + i; the solvers work on the free ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hodphys.fem.mesh import TetMesh


@dataclass(frozen=True)
class Dirichlet:
    """Nodes clamped (all three displacement components zero).

    nodes : ndarray, shape (c,) — sorted unique node ids.
    n_points : int — nodes in the mesh.
    """

    nodes: np.ndarray
    n_points: int

    def __post_init__(self) -> None:
        if self.nodes.size == 0:
            raise ValueError("Dirichlet: expected at least one clamped node, got an empty set; "
                             "without one the elastic problem is singular (rigid-body motion)")
        if self.nodes.min() < 0 or self.nodes.max() >= self.n_points:
            raise ValueError(f"Dirichlet: node ids must lie in [0, {self.n_points}), got ids in "
                             f"[{self.nodes.min()}, {self.nodes.max()}]")

    @classmethod
    def clamp(cls, mesh: TetMesh, nodes: np.ndarray) -> Dirichlet:
        return cls(nodes=np.unique(np.asarray(nodes, dtype=np.int64)), n_points=mesh.n_points)

    @classmethod
    def clamp_plane(cls, mesh: TetMesh, axis: int = 0, value: float = 0.0) -> Dirichlet:
        """Clamp every node on the plane X[axis] = value (e.g. the end x = 0 of a beam)."""
        nodes = mesh.nodes_on_plane(axis, value)
        if nodes.size == 0:
            lo, hi = mesh.points[:, axis].min(), mesh.points[:, axis].max()
            raise ValueError(f"Dirichlet.clamp_plane: no node lies on X[{axis}] = {value}; the "
                             f"mesh spans [{lo}, {hi}] along that axis")
        return cls(nodes=nodes, n_points=mesh.n_points)

    @property
    def fixed_dofs(self) -> np.ndarray:
        """Global dof ids held at zero; shape (3c,)."""
        return (3 * self.nodes[:, None] + np.arange(3)).ravel()

    @property
    def free_dofs(self) -> np.ndarray:
        """Sorted global dof ids left unknown; shape (3·n_points − 3c,)."""
        free = np.ones(3 * self.n_points, dtype=bool)
        free[self.fixed_dofs] = False
        return np.flatnonzero(free)
