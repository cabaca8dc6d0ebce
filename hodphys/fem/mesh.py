"""Linear tetrahedral meshes: a structured box generator (hex → 6 tets), meshio I/O and checks.

Index letters: e elements, a nodes (4 per tet), i/J coordinates.

The box generator splits every hexahedron of a structured grid into the six tetrahedra of the
Kuhn (Freudenthal) split along the diagonal from its lowest to its highest corner. Every hex uses
the same diagonal direction, so each shared square face is cut along the same face diagonal from
both sides and the mesh is conforming.

    mesh = box_tet_mesh(size=(1.0, 0.1, 0.1), divisions=(30, 3, 3))
    write_mesh(mesh, "beam.vtu"); mesh = read_mesh("beam.vtu")
"""
from __future__ import annotations

import contextlib
import io
import itertools
from dataclasses import dataclass
from pathlib import Path

import meshio
import numpy as np

from hodphys.errors import InputError

# A tet whose volume is below this fraction of the mean element volume counts as degenerate.
DEGENERATE_VOLUME_FRACTION = 1e-10
# How many offending element ids an error message lists before summarising.
IDS_SHOWN = 10


@dataclass(frozen=True)
class TetMesh:
    """A mesh of linear tetrahedra.

    points : ndarray, shape (a, 3), float64 — node coordinates in the reference configuration.
    cells : ndarray, shape (e, 4), int64 — node ids of each tet, positively oriented
        (det[X1−X0, X2−X0, X3−X0] > 0).
    """

    points: np.ndarray
    cells: np.ndarray

    def __post_init__(self) -> None:
        check_mesh(self.points, self.cells)

    @property
    def n_points(self) -> int:
        return self.points.shape[0]

    @property
    def n_cells(self) -> int:
        return self.cells.shape[0]

    @property
    def n_dofs(self) -> int:
        """Displacement degrees of freedom, 3 per node."""
        return 3 * self.n_points

    def nodes_on_plane(self, axis: int, value: float, tol: float = 1e-9) -> np.ndarray:
        """Ids (sorted) of the nodes with |X[axis] − value| ≤ tol · (size of the mesh)."""
        extent = np.ptp(self.points, axis=0).max()
        return np.flatnonzero(np.abs(self.points[:, axis] - value) <= tol * extent)


def signed_volumes(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Signed volume of each tet, V_e = det[X1−X0, X2−X0, X3−X0] / 6; shape (e,)."""
    corners = points[cells]                                  # (e, 4, 3)
    edges = corners[:, 1:, :] - corners[:, :1, :]            # (e, 3, 3), rows are edges
    return np.linalg.det(edges) / 6.0


def check_mesh(points: np.ndarray, cells: np.ndarray) -> None:
    """Raise ValueError naming the bad input if points/cells do not form a valid tet mesh.

    Checks shapes, dtypes, finite coordinates, node ids in range, that every node belongs to a
    cell (a free-floating node makes every stiffness matrix singular), and that no tet is inverted
    or degenerate (volume ≤ 1e-10 × mean |volume|); the message lists the offending ids.
    """
    if points.ndim != 2 or points.shape[1] != 3 or not np.issubdtype(points.dtype, np.floating):
        raise InputError(f"TetMesh: expected points of shape (a, 3) and a float dtype, got shape "
                         f"{points.shape} and dtype {points.dtype}")
    if cells.ndim != 2 or cells.shape[1] != 4 or not np.issubdtype(cells.dtype, np.integer):
        raise InputError(f"TetMesh: expected cells of shape (e, 4) and an integer dtype (linear "
                         f"tets), got shape {cells.shape} and dtype {cells.dtype}")
    if cells.size == 0:
        raise InputError("TetMesh: expected at least one cell, got none")
    if cells.min() < 0 or cells.max() >= points.shape[0]:
        raise InputError(f"TetMesh: cells refer to node ids in [{cells.min()}, {cells.max()}], "
                         f"but there are only {points.shape[0]} points")
    not_finite = np.flatnonzero(~np.isfinite(points).all(axis=1))
    if not_finite.size:
        raise InputError(f"TetMesh: nodes {format_ids(not_finite)} have non-finite coordinates")
    unused = np.setdiff1d(np.arange(points.shape[0]), cells)
    if unused.size:
        raise InputError(f"TetMesh: nodes {format_ids(unused)} belong to no cell; expected every node "
                         f"in a tet (read_mesh drops such nodes)")
    volumes = signed_volumes(points, cells)
    threshold = DEGENERATE_VOLUME_FRACTION * np.abs(volumes).mean()
    inverted = np.flatnonzero(volumes < -threshold)
    degenerate = np.flatnonzero(np.abs(volumes) <= threshold)
    problems = [f"{kind} elements {format_ids(ids)}" for kind, ids in
                (("inverted (negative volume)", inverted), ("degenerate (zero volume)", degenerate))
                if ids.size]
    if problems:
        raise InputError("TetMesh: found " + " and ".join(problems)
                         + "; expected positively oriented tets with non-zero volume")


def format_ids(ids: np.ndarray) -> str:
    """'[3, 7]', or the first IDS_SHOWN ids and the count, for error messages."""
    shown = ", ".join(str(i) for i in ids[:IDS_SHOWN])
    more = f" … ({ids.size} in all)" if ids.size > IDS_SHOWN else ""
    return f"[{shown}{more}]"


def box_tet_mesh(size: tuple[float, float, float],
                 divisions: tuple[int, int, int]) -> TetMesh:
    """Tet mesh of the box [0, Lx] × [0, Ly] × [0, Lz] with nx × ny × nz hexes, 6 tets each.

    Gives (nx+1)(ny+1)(nz+1) nodes and 6·nx·ny·nz positively oriented tets; node (i, j, k) of
    the grid has id (i·(ny+1) + j)·(nz+1) + k.
    """
    if len(size) != 3 or min(size) <= 0:
        raise InputError(f"box_tet_mesh: expected size = three positive lengths, got {size}")
    if len(divisions) != 3 or min(divisions) < 1 or any(int(n) != n for n in divisions):
        raise InputError(f"box_tet_mesh: expected divisions = three integers ≥ 1, got {divisions}")
    nx, ny, nz = (int(n) for n in divisions)
    axes = [np.linspace(0.0, length, n + 1) for length, n in zip(size, (nx, ny, nz))]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    node_id = np.arange(points.shape[0]).reshape(nx + 1, ny + 1, nz + 1)
    # corner (di, dj, dk) of every hex, as an (n_hex,) array of node ids
    corner = {offset: node_id[offset[0]:offset[0] + nx, offset[1]:offset[1] + ny,
                              offset[2]:offset[2] + nz].ravel()
              for offset in itertools.product((0, 1), repeat=3)}
    cells = np.concatenate([_kuhn_tet(corner, order) for order in itertools.permutations(range(3))])
    return TetMesh(points=points, cells=cells.astype(np.int64))


def _kuhn_tet(corner: dict[tuple[int, int, int], np.ndarray], order: tuple[int, ...]) -> np.ndarray:
    """The Kuhn tet of every hex that walks 000 → 111 along the axes in ``order``; shape (n_hex, 4).

    Its volume sign is the parity of the permutation, so odd ones swap two nodes.
    """
    step = [0, 0, 0]
    path = [corner[tuple(step)]]
    for axis in order:
        step[axis] = 1
        path.append(corner[tuple(step)])
    inversions = sum(order[i] > order[j] for i in range(3) for j in range(i + 1, 3))
    if inversions % 2:
        path[2], path[3] = path[3], path[2]
    return np.stack(path, axis=1)


def read_mesh(path: str | Path) -> TetMesh:
    """Read the linear tets ("tetra" cells) of any meshio-readable file; other cells are ignored."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"read_mesh({str(path)!r}): no such file")
    said = io.StringIO()  # meshio prints why it failed (and calls sys.exit): keep it for the message
    try:
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            raw = meshio.read(path)
    except (SystemExit, Exception) as err:
        reason = " ".join(line.strip() for line in said.getvalue().splitlines()
                          if line.strip() and "Couldn't read file" not in line) or f"{type(err).__name__}: {err}"
        raise InputError(f"read_mesh({str(path)!r}): not a mesh meshio can read (a .vtu, .msh, .xdmf, … file "
                         f"with 'tetra' cells): {reason}") from None
    blocks = [block.data for block in raw.cells if block.type == "tetra"]
    if not blocks:
        found = sorted({block.type for block in raw.cells})
        raise InputError(f"read_mesh({str(path)!r}): expected linear tetrahedra ('tetra' cells), "
                         f"found cell types {found}")
    cells = np.concatenate(blocks).astype(np.int64)
    n_points = len(raw.points)
    if cells.min() < 0 or cells.max() >= n_points:
        bad = np.flatnonzero(((cells < 0) | (cells >= n_points)).any(axis=1))
        raise InputError(f"read_mesh({str(path)!r}): tets {format_ids(bad)} refer to node ids outside "
                         f"[0, {n_points - 1}] (the file has {n_points} points)")
    used, cells = np.unique(cells, return_inverse=True)  # drop nodes only other cell types used
    return TetMesh(points=np.asarray(raw.points, dtype=np.float64)[used], cells=cells.reshape(-1, 4))


def write_mesh(mesh: TetMesh, path: str | Path) -> None:
    """Write the mesh with meshio (format from the suffix; .vtu is written binary, compressed)."""
    meshio.write(path, meshio.Mesh(mesh.points, [("tetra", mesh.cells)]))


def boundary_faces(mesh: TetMesh) -> np.ndarray:
    """Triangles on the boundary (faces that belong to one tet only); shape (f, 3) of node ids."""
    # face k of a tet is the tet without node k
    faces = np.concatenate([np.delete(mesh.cells, k, axis=1) for k in range(4)])
    _, first, counts = np.unique(np.sort(faces, axis=1), axis=0, return_index=True,
                                 return_counts=True)
    return faces[np.sort(first[counts == 1])]
