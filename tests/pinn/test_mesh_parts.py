"""Named boundary parts of a mesh file: gmsh physical groups and meshio cell_sets of facets."""
import meshio
import numpy as np
import pytest
import torch

from hodphys.pinn import PinnConfig, Periodic, Problem
from hodphys.pinn.geometry import MeshDomain

SIDES = {"bottom": (1, lambda p: p[:, 1] == 0), "right": (2, lambda p: p[:, 0] == 2),
         "top": (3, lambda p: p[:, 1] == 1), "left": (4, lambda p: p[:, 0] == 0)}


def rectangle(nx=6, ny=3):
    """[0, 2] × [0, 1] in 2·nx·ny triangles, and its boundary edges per side (name → (e, 2))."""
    xs, ys = np.linspace(0, 2, nx + 1), np.linspace(0, 1, ny + 1)
    points = np.array([[x, y, 0.0] for y in ys for x in xs])
    at = lambda i, j: j * (nx + 1) + i  # noqa: E731
    triangles = [t for j in range(ny) for i in range(nx)
                 for t in ([at(i, j), at(i + 1, j), at(i + 1, j + 1)], [at(i, j), at(i + 1, j + 1), at(i, j + 1)])]
    edges = {}
    for name, (_, on) in SIDES.items():
        ids = np.flatnonzero(on(points))
        ids = ids[np.lexsort((points[ids, 1], points[ids, 0]))]
        edges[name] = np.stack([ids[:-1], ids[1:]], 1)
    return points, np.array(triangles), edges


def write_gmsh(path, sides=SIDES):
    points, triangles, edges = rectangle()
    lines = np.concatenate([edges[n] for n in sides])
    tags = np.concatenate([np.full(len(edges[n]), SIDES[n][0]) for n in sides])
    mesh = meshio.Mesh(points, [("line", lines), ("triangle", triangles)],
                       cell_data={"gmsh:physical": [tags, np.zeros(len(triangles), int)],
                                  "gmsh:geometrical": [tags, np.zeros(len(triangles), int)]},
                       field_data={n: np.array([SIDES[n][0], 1]) for n in sides})
    mesh.write(path, file_format="gmsh22", binary=False)
    return path


def test_gmsh_physical_groups_become_parts(tmp_path):
    domain = MeshDomain(write_gmsh(tmp_path / "rect.msh"))
    assert sorted(domain.parts()) == sorted(["boundary", *SIDES])
    generator = torch.Generator().manual_seed(0)
    for name, (_, on) in SIDES.items():
        (piece,) = domain.pieces_of(name)
        assert piece.measure == pytest.approx(2.0 if name in ("top", "bottom") else 1.0, rel=1e-12)
        x, normals = domain.sample_boundary(200, generator, name)
        assert on(x.numpy()).all()
    x, normals = domain.sample_boundary(100, generator, "right")
    torch.testing.assert_close(normals, torch.tensor([1.0, 0.0], dtype=torch.float64).expand(100, 2))
    assert domain.sample_boundary(300, generator)[0].shape == (300, 2)


def test_unnamed_facets_and_periodic_mesh_sides(tmp_path):
    domain = MeshDomain(write_gmsh(tmp_path / "rect.msh", sides=["left", "right"]))
    assert sorted(domain.parts()) == ["boundary", "left", "right", "unnamed"]
    assert domain.pieces_of("unnamed")[0].measure == pytest.approx(4.0)
    config = PinnConfig(dtype="float64", n_interior=16, n_boundary=16)
    problem = Problem(config, domain, pde=lambda f: f["u"], needs=["u"],
                      conditions=[Periodic(parts=("left", "right"), shift=(2.0, 0.0))])
    batch = problem.sample(torch.Generator().manual_seed(0))
    assert (batch["periodic_left_right_pair"][:, 0] == 2).all()


def test_cell_sets_become_parts():
    points, triangles, edges = rectangle()
    lines = np.concatenate([edges["left"], edges["top"]])
    mesh = meshio.Mesh(points, [("triangle", triangles), ("line", lines)],
                       cell_sets={"inflow": [np.array([], int), np.arange(len(edges["left"]))]})
    domain = MeshDomain(mesh)  # as pygmsh returns it (no common file format keeps cell_sets)
    assert "inflow" in domain.parts()
    x, _ = domain.sample_boundary(50, torch.Generator().manual_seed(0), "inflow")
    assert (x[:, 0] == 0).all()


def test_a_part_off_the_boundary_is_a_clear_error(tmp_path):
    points, triangles, _ = rectangle()
    inner = np.array([[8, 9]])  # an interior edge (vertices 8, 9 lie at y = 1/3)
    mesh = meshio.Mesh(points, [("line", inner), ("triangle", triangles)],
                       cell_data={"gmsh:physical": [np.array([7]), np.zeros(len(triangles), int)],
                                  "gmsh:geometrical": [np.array([7]), np.zeros(len(triangles), int)]},
                       field_data={"crack": np.array([7, 1])})
    mesh.write(tmp_path / "bad.msh", file_format="gmsh22", binary=False)
    with pytest.raises(ValueError, match=r"part 'crack' names 1 facets that are not on the boundary"):
        MeshDomain(tmp_path / "bad.msh")
