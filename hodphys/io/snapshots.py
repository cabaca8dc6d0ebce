"""Trajectory snapshots in HDF5 (h5py): one file, one mesh, any number of trajectories.

Index letters: t time points, a nodes, e elements, n_free free degrees of freedom.

Layout (all arrays float64 unless noted; every dataset gzip-compressed):

    /                      attrs: format = "hodphys-fem-snapshots", version, and the run's metadata
    /mesh/points           (a, 3)       reference node coordinates
    /mesh/cells            (e, 4) int64 linear tets
    /mesh/free_dofs        (n_free,) int64  global dofs 3·node + i that are unknowns
    /trajectories/<name>/  attrs: the load parameters (numbers) of this trajectory
        times              (t,)
        displacements      (t, a, 3)    nodal displacements (zero at clamped nodes)
        velocities         (t, a, 3)
        newton_iterations  (t − 1,) int64  per step

    with SnapshotWriter("beam.h5", points, cells, free_dofs, metadata={"dt": 0.01}) as out:
        out.add("000", record)
    snapshots = read_snapshots("beam.h5")
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np

FORMAT = "hodphys-fem-snapshots"
VERSION = 1


@dataclass
class TrajectoryRecord:
    """times (t,), displacements and velocities (t, a, 3), newton_iterations (t − 1,), and the
    load parameters (name → number) that produced it."""

    times: np.ndarray
    displacements: np.ndarray
    velocities: np.ndarray
    newton_iterations: np.ndarray
    load_parameters: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = self.times.shape[0]
        a = self.displacements.shape[1] if self.displacements.ndim == 3 else None
        expected = {"displacements": (t, None, 3), "velocities": (t, a, 3),
                    "newton_iterations": (max(t - 1, 0),)}
        for name, shape in expected.items():
            actual = getattr(self, name).shape
            if len(actual) != len(shape) or any(s is not None and s != a
                                                for s, a in zip(shape, actual)):
                raise ValueError(f"TrajectoryRecord: expected {name} of shape "
                                 f"{tuple('a' if s is None else s for s in shape)} for {t} times, "
                                 f"got {actual}")


@dataclass
class Snapshots:
    """Everything in a snapshot file: mesh arrays, metadata and trajectories by name."""

    points: np.ndarray
    cells: np.ndarray
    free_dofs: np.ndarray
    metadata: dict
    trajectories: dict[str, TrajectoryRecord]

    def free_displacements(self, name: str) -> np.ndarray:
        """Displacements of one trajectory as free-dof vectors; shape (t, n_free)."""
        displacements = self.trajectories[name].displacements
        return displacements.reshape(displacements.shape[0], -1)[:, self.free_dofs]


RESERVED = ("format", "version")


def _attribute(key: str, value: object) -> object:
    """h5py stores numbers, strings and numeric arrays natively; anything else as JSON text."""
    if key in RESERVED:
        raise ValueError(f"snapshot metadata key {key!r} is reserved for the file format; rename it")
    if isinstance(value, (bool, int, float, str, np.number)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        array = np.asarray(value)
        if array.dtype.kind in "biuf":
            return array
    try:
        return json.dumps(value)
    except TypeError:
        raise TypeError(f"snapshot metadata {key!r}: cannot store {type(value).__name__} {value!r}; "
                        f"expected numbers, strings, numeric arrays or JSON-serialisable values") from None


class SnapshotWriter:
    """Writes the mesh and metadata on opening, then one trajectory per ``add``; each is flushed
    to disk at once, so whatever finished before a crash stays readable."""

    def __init__(self, path: str | Path, points: np.ndarray, cells: np.ndarray,
                 free_dofs: np.ndarray, metadata: dict | None = None) -> None:
        attributes = {key: _attribute(key, value) for key, value in (metadata or {}).items()}  # checked first
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self.path, "w")
        self._file.attrs["format"] = FORMAT
        self._file.attrs["version"] = VERSION
        for key, value in attributes.items():
            self._file.attrs[key] = value
        mesh = self._file.create_group("mesh")
        for name, array in (("points", points), ("cells", cells), ("free_dofs", free_dofs)):
            mesh.create_dataset(name, data=array, compression="gzip")
        self._trajectories = self._file.create_group("trajectories")
        self._file.flush()

    def add(self, name: str, record: TrajectoryRecord) -> None:
        """Store one trajectory under ``name`` (no '/', not empty) and flush it to disk."""
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise ValueError(f"SnapshotWriter.add: expected a non-empty trajectory name without '/', got {name!r}")
        n_points = self._file["mesh/points"].shape[0]
        if record.displacements.shape[1] != n_points:
            raise ValueError(f"SnapshotWriter.add({name!r}): the record has {record.displacements.shape[1]} "
                             f"nodes per snapshot, the mesh in {self.path} has {n_points}")
        if name in self._trajectories:
            raise ValueError(f"SnapshotWriter.add: a trajectory named {name!r} is already in "
                             f"{self.path}")
        group = self._trajectories.create_group(name)
        for key in ("times", "displacements", "velocities", "newton_iterations"):
            group.create_dataset(key, data=getattr(record, key), compression="gzip")
        for key, value in record.load_parameters.items():
            group.attrs[key] = _attribute(key, value)
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def read_snapshots(path: str | Path) -> Snapshots:
    """Load a snapshot file written by SnapshotWriter."""
    with h5py.File(path, "r") as source:
        if source.attrs.get("format") != FORMAT:
            raise ValueError(f"read_snapshots({str(path)!r}): expected an HDF5 file with attribute "
                             f"format = {FORMAT!r}, got {source.attrs.get('format')!r}")
        metadata = {key: _python(value) for key, value in source.attrs.items()}
        trajectories = {
            name: TrajectoryRecord(
                **{key: group[key][()] for key in ("times", "displacements", "velocities",
                                                    "newton_iterations")},
                load_parameters={key: _python(value) for key, value in group.attrs.items()})
            for name, group in source["trajectories"].items()}
        return Snapshots(points=source["mesh/points"][()], cells=source["mesh/cells"][()],
                         free_dofs=source["mesh/free_dofs"][()], metadata=metadata,
                         trajectories=trajectories)


def _python(value: object) -> object:
    """HDF5 attribute → plain Python (numpy scalars to numbers, arrays to lists)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
