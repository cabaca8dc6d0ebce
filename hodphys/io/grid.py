"""Fields on a regular 2-D grid as a VTU file (meshio) that ParaView opens.

The grid's n_y × n_x points become the mesh points (z = 0) and its (n_y − 1)(n_x − 1) cells
quadrilaterals; each field is point data.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def grid_quads(n_y: int, n_x: int) -> np.ndarray:
    """Quadrilaterals of an n_y × n_x grid of row-major points, ((n_y−1)(n_x−1), 4), counter-clockwise."""
    index = np.arange(n_y * n_x).reshape(n_y, n_x)
    corners = (index[:-1, :-1], index[:-1, 1:], index[1:, 1:], index[1:, :-1])
    return np.stack([c.ravel() for c in corners], axis=1)


def write_grid_vtu(path: str | Path, grid_x: np.ndarray, grid_y: np.ndarray,
                   fields: dict[str, np.ndarray]) -> Path:
    """Write point fields on a grid to a VTU file.

    grid_x, grid_y: (n_y, n_x) coordinates; fields: name → (n_y, n_x) values.
    """
    import meshio

    if grid_x.ndim != 2 or grid_x.shape != grid_y.shape:
        raise ValueError(f"write_grid_vtu: expected grid_x and grid_y of one shape (n_y, n_x), "
                         f"got {grid_x.shape} and {grid_y.shape}")
    for name, values in fields.items():
        if values.shape != grid_x.shape:
            raise ValueError(f"write_grid_vtu: field {name!r} has shape {values.shape}, "
                             f"expected the grid's {grid_x.shape}")
    points = np.stack([grid_x.ravel(), grid_y.ravel(), np.zeros(grid_x.size)], axis=1)
    mesh = meshio.Mesh(points, [("quad", grid_quads(*grid_x.shape))],
                       point_data={name: np.ascontiguousarray(v.ravel()) for name, v in fields.items()})
    # meshio opens the file by name, so write a hidden sibling and rename it: never a torn .vtu
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial.vtu")
    meshio.vtu.write(str(partial), mesh, binary=True)
    os.replace(partial, path)
    return path
