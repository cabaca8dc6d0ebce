import meshio
import numpy as np
import pytest

from hodphys.fem.mesh import (
    TetMesh,
    boundary_faces,
    box_tet_mesh,
    read_mesh,
    signed_volumes,
    write_mesh,
)
from tests.fem.beams import MESH_DIR


@pytest.mark.parametrize("divisions", [(1, 1, 1), (3, 2, 1), (4, 3, 2)])
def test_box_mesh_counts_volumes_and_conformity(divisions):
    nx, ny, nz = divisions
    mesh = box_tet_mesh((2.0, 1.0, 0.5), divisions)
    assert mesh.n_points == (nx + 1) * (ny + 1) * (nz + 1)
    assert mesh.n_cells == 6 * nx * ny * nz
    volumes = signed_volumes(mesh.points, mesh.cells)
    assert np.all(volumes > 0)
    np.testing.assert_allclose(volumes.sum(), 1.0, rtol=1e-14)
    # conforming: every face is shared by two tets except the box surface, where each of the
    # 2(nx·ny + ny·nz + nx·nz) squares is cut into two triangles
    assert boundary_faces(mesh).shape == (4 * (nx * ny + ny * nz + nx * nz), 3)


def test_box_mesh_node_numbering():
    mesh = box_tet_mesh((3.0, 2.0, 1.0), (3, 2, 1))
    # node (i, j, k) has id (i·(ny+1) + j)·(nz+1) + k and sits at (i·hx, j·hy, k·hz)
    np.testing.assert_allclose(mesh.points[(2 * 3 + 1) * 2 + 1], [2.0, 1.0, 1.0])


@pytest.mark.parametrize("name, divisions, n_dofs", [("beam_coarse", (30, 3, 3), 1488),
                                                      ("beam_fine", (80, 8, 8), 19683)])
def test_committed_meshes_are_what_the_generator_makes(name, divisions, n_dofs):
    mesh = read_mesh(MESH_DIR / f"{name}.vtu")
    made = box_tet_mesh((1.0, 0.1, 0.1), divisions)
    assert mesh.n_dofs == n_dofs
    np.testing.assert_array_equal(mesh.cells, made.cells)
    np.testing.assert_array_equal(mesh.points, made.points)


@pytest.mark.parametrize("suffix", [".vtu", ".msh", ".xdmf"])
def test_write_read_round_trip(tmp_path, suffix):
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (2, 2, 2))
    write_mesh(mesh, tmp_path / f"cube{suffix}")
    again = read_mesh(tmp_path / f"cube{suffix}")
    np.testing.assert_array_equal(again.cells, mesh.cells)
    np.testing.assert_allclose(again.points, mesh.points)


def test_read_mesh_without_tets_names_the_cell_types(tmp_path):
    path = tmp_path / "triangle.vtu"
    meshio.write(path, meshio.Mesh(np.eye(3), [("triangle", np.array([[0, 1, 2]]))]))
    with pytest.raises(ValueError, match=r"expected linear tetrahedra.*\['triangle'\]"):
        read_mesh(path)


def test_nodes_on_plane():
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (2, 2, 2))
    nodes = mesh.nodes_on_plane(axis=0, value=1.0)
    assert nodes.size == 9
    np.testing.assert_allclose(mesh.points[nodes, 0], 1.0)


def test_inverted_and_degenerate_tets_are_named():
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (2, 1, 1))
    cells = mesh.cells.copy()
    cells[[3, 7]] = cells[[3, 7]][:, [1, 0, 2, 3]]                 # swap two nodes: inverted
    with pytest.raises(ValueError, match=r"inverted \(negative volume\) elements \[3, 7\]"):
        TetMesh(mesh.points, cells)
    cells = mesh.cells.copy()
    cells[5, 3] = cells[5, 2]                                       # repeated node: zero volume
    with pytest.raises(ValueError, match=r"degenerate \(zero volume\) elements \[5\]"):
        TetMesh(mesh.points, cells)


def test_many_bad_tets_are_summarised():
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (2, 2, 2))
    cells = mesh.cells[:, [1, 0, 2, 3]]
    with pytest.raises(ValueError, match=r"\[0, 1, 2, 3, 4, 5, 6, 7, 8, 9 … \(48 in all\)\]"):
        TetMesh(mesh.points, cells)


@pytest.mark.parametrize("points, cells, match", [
    (np.zeros((4, 2)), np.array([[0, 1, 2, 3]]), r"points of shape \(a, 3\)"),
    (np.eye(4, 3), np.array([[0, 1, 2]]), r"cells of shape \(e, 4\)"),
    (np.eye(4, 3), np.zeros((0, 4), dtype=int), "at least one cell"),
    (np.eye(4, 3), np.array([[0, 1, 2, 7]]), r"node ids in \[0, 7\], but there are only 4"),
])
def test_bad_arrays(points, cells, match):
    with pytest.raises(ValueError, match=match):
        TetMesh(points, cells)


@pytest.mark.parametrize("size, divisions, match", [
    ((1.0, -1.0, 1.0), (1, 1, 1), "three positive lengths"),
    ((1.0, 1.0, 1.0), (1, 0, 1), r"three integers ≥ 1"),
])
def test_box_arguments(size, divisions, match):
    with pytest.raises(ValueError, match=match):
        box_tet_mesh(size, divisions)
