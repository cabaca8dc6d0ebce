import shutil

import h5py
import numpy as np
import pytest

from hodphys.fem import box_tet_mesh
from hodphys.io import SnapshotWriter, TrajectoryRecord, read_snapshots


def record(rng, n_times=4, n_points=12, **parameters):
    return TrajectoryRecord(times=np.linspace(0.0, 0.3, n_times),
                            displacements=rng.standard_normal((n_times, n_points, 3)),
                            velocities=rng.standard_normal((n_times, n_points, 3)),
                            newton_iterations=np.arange(n_times - 1), load_parameters=parameters)


def test_round_trip_of_mesh_metadata_and_trajectories(tmp_path, rng):
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (2, 1, 1))
    free = np.arange(12, 36)
    first, second = record(rng, tip_force=-50.0), record(rng, n_times=2, gravity=9.81)
    metadata = {"integrator": "implicit-euler", "dt": 0.01, "young": 1e7, "divisions": [2, 1, 1],
                "nested": {"a": 1}}
    with SnapshotWriter(tmp_path / "s.h5", mesh.points, mesh.cells, free, metadata) as writer:
        writer.add("000", first)
        writer.add("001", second)
    snapshots = read_snapshots(tmp_path / "s.h5")
    np.testing.assert_array_equal(snapshots.points, mesh.points)
    np.testing.assert_array_equal(snapshots.cells, mesh.cells)
    assert snapshots.metadata["integrator"] == "implicit-euler" and snapshots.metadata["dt"] == 0.01
    assert snapshots.metadata["divisions"] == [2, 1, 1]
    assert snapshots.metadata["nested"] == '{"a": 1}'            # anything else is JSON text
    assert sorted(snapshots.trajectories) == ["000", "001"]
    loaded = snapshots.trajectories["000"]
    for key in ("times", "displacements", "velocities", "newton_iterations"):
        np.testing.assert_array_equal(getattr(loaded, key), getattr(first, key))
    assert loaded.load_parameters == {"tip_force": -50.0}
    np.testing.assert_array_equal(snapshots.free_displacements("001"),
                                  second.displacements.reshape(2, -1)[:, free])


def test_each_trajectory_is_on_disk_as_soon_as_it_is_added(tmp_path, rng):
    mesh = box_tet_mesh((1.0, 1.0, 1.0), (2, 1, 1))
    writer = SnapshotWriter(tmp_path / "s.h5", mesh.points, mesh.cells, np.arange(36))
    writer.add("000", record(rng))
    # a copy taken while the writer is still open (as after a crash) is a complete file
    shutil.copy(tmp_path / "s.h5", tmp_path / "copy.h5")
    assert list(read_snapshots(tmp_path / "copy.h5").trajectories) == ["000"]
    with pytest.raises(ValueError, match="a trajectory named '000' is already in"):
        writer.add("000", record(rng))
    writer.close()


def test_record_shapes_are_checked(rng):
    with pytest.raises(ValueError, match=r"expected velocities of shape \(4, 12, 3\) for 4 times, got \(3, 12, 3\)"):
        TrajectoryRecord(times=np.zeros(4), displacements=np.zeros((4, 12, 3)),
                         velocities=np.zeros((3, 12, 3)), newton_iterations=np.zeros(3))


def test_reading_a_foreign_file_is_refused(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle.attrs["format"] = "something else"
    with pytest.raises(ValueError, match="expected an HDF5 file with attribute format = 'hodphys-fem-snapshots'"):
        read_snapshots(tmp_path / "other.h5")
