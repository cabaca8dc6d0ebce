"""Bad FEM and snapshot input is refused with a message naming it (found by review)."""
import meshio
import numpy as np
import pytest

from hodphys.fem import ElasticBody, NeoHookean, solve_static
from hodphys.fem.boundary import Dirichlet
from hodphys.fem.mesh import TetMesh, box_tet_mesh, read_mesh
from hodphys.io.snapshots import SnapshotWriter, TrajectoryRecord, read_snapshots

MESH = box_tet_mesh((1, .1, .1), (4, 1, 1))
MATERIAL = NeoHookean.from_young_poisson(1e3, .3)


def _record(nodes, t=2):
    return TrajectoryRecord(np.zeros(t), np.zeros((t, nodes, 3)), np.zeros((t, nodes, 3)), np.zeros(t - 1))


def _writer(path, metadata=None):
    return SnapshotWriter(path, MESH.points, MESH.cells, np.arange(12, 60), metadata)


def test_meshes_with_non_finite_or_unused_nodes_are_refused(tmp_path):
    points = MESH.points.copy()
    points[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"nodes \[0\] have non-finite coordinates"):
        TetMesh(points, MESH.cells)
    extra = np.vstack([MESH.points, [[5.0, 5.0, 5.0]]])
    with pytest.raises(ValueError, match=rf"nodes \[{MESH.n_points}\] belong to no cell"):
        TetMesh(extra, MESH.cells)
    path = tmp_path / "extra.vtu"
    meshio.write(path, meshio.Mesh(extra, [("tetra", MESH.cells), ("vertex", [[MESH.n_points]])]))
    read = read_mesh(path)
    assert read.n_points == MESH.n_points and np.array_equal(read.cells, MESH.cells)


def test_bodies_need_free_dofs_and_solves_need_finite_loads():
    with pytest.raises(ValueError, match="fixes every degree of freedom"):
        ElasticBody(MESH, MATERIAL, 1.0, Dirichlet.clamp(MESH, np.arange(MESH.n_points)))
    body = ElasticBody(MESH, MATERIAL, 1.0, Dirichlet.clamp_plane(MESH))
    with pytest.raises(ValueError, match="force has non-finite entries"):
        solve_static(body, np.full(body.n_free, np.nan))


def test_snapshot_names_records_and_metadata_are_checked(tmp_path):
    with _writer(tmp_path / "a.h5", {"array": np.arange(3), "path": tmp_path}) as writer:
        for name in ("a/b", ""):
            with pytest.raises(ValueError, match="expected a non-empty trajectory name without '/'"):
                writer.add(name, _record(MESH.n_points))
        wrong = f"has {MESH.n_points + 5} nodes per snapshot, the mesh .* has {MESH.n_points}"
        with pytest.raises(ValueError, match=wrong):
            writer.add("x", _record(MESH.n_points + 5))
        writer.add("ok", _record(MESH.n_points))
    read = read_snapshots(tmp_path / "a.h5")
    assert list(read.trajectories) == ["ok"] and np.array_equal(read.metadata["array"], np.arange(3))
    with pytest.raises(ValueError, match="metadata key 'format' is reserved"):
        _writer(tmp_path / "b.h5", {"format": "mine"})
    with pytest.raises(ValueError, match=r"expected velocities of shape \(2, 4, 3\)"):
        TrajectoryRecord(np.zeros(2), np.zeros((2, 4, 3)), np.zeros((2, 5, 3)), np.zeros(1))
