"""Parts of a mesh: connected components of its tets, and the parts no Dirichlet node holds.

A part that touches no clamped node moves freely as a rigid body (six zero-energy modes): its
stiffness is singular and its first frequency zero. Found up front, from the cells alone.

Index letters: e elements, a nodes.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


def mesh_parts(cells: np.ndarray, n_points: int) -> tuple[int, np.ndarray]:
    """(number of parts, part id of every node (a,)): nodes sharing a tet are in the same part."""
    rows = np.repeat(cells[:, :1], 3, axis=1).ravel()  # node 0 of each tet linked to its other three
    graph = sp.coo_matrix((np.ones(rows.size), (rows, cells[:, 1:].ravel())), shape=(n_points, n_points))
    return connected_components(graph, directed=False)


def floating_parts(cells: np.ndarray, n_points: int, held: np.ndarray) -> list[np.ndarray]:
    """Node ids of every part (sorted ids per part) that contains none of the ``held`` nodes."""
    count, label = mesh_parts(cells, n_points)
    anchored = np.zeros(count, dtype=bool)
    anchored[label[held]] = True
    return [np.flatnonzero(label == part) for part in np.flatnonzero(~anchored)]
