"""Files a run writes: HDF5 snapshots (h5py), VTU/PVD field series (meshio), PNG plots
(matplotlib) and off-screen renders (pyvista, optional).

pyvista is imported only inside ``render_deformed``, so the other writers work without it.
"""
from hodphys.io.fields import read_pvd, write_vtu_series
from hodphys.io.plots import plot_time_series
from hodphys.io.render import (
    render_deformed,
    render_side_by_side,
    rendering_available,
    rendering_unavailable,
)
from hodphys.io.snapshots import SnapshotWriter, Snapshots, TrajectoryRecord, read_snapshots

__all__ = [
    "read_pvd", "write_vtu_series", "plot_time_series", "render_deformed", "render_side_by_side", "rendering_available",
    "rendering_unavailable", "SnapshotWriter", "Snapshots", "TrajectoryRecord", "read_snapshots",
]
