"""Time series of nodal fields on a tet mesh for ParaView: one VTU per frame (meshio) plus a PVD
collection that lists them with their times.

Index letters: t frames, a nodes, e elements, k field components.

    pvd = write_vtu_series("out/fields", "beam", points, cells, times,
                           {"displacement": u, "velocity": v})      # u, v: (t, a, 3)
    # ParaView: File → Open → out/fields/beam.pvd; filter "Warp By Vector" on displacement.
"""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import meshio
import numpy as np


def write_vtu_series(directory: str | Path, stem: str, points: np.ndarray, cells: np.ndarray,
                     times: np.ndarray, point_data: dict[str, np.ndarray]) -> Path:
    """Write ``stem_0000.vtu`` … and ``stem.pvd`` into ``directory``; returns the PVD path.

    points (a, 3), cells (e, 4), times (t,); each point_data array has shape (t, a) or (t, a, k).
    """
    for name, values in point_data.items():
        if values.shape[:2] != (times.shape[0], points.shape[0]):
            raise ValueError(f"write_vtu_series: expected point_data[{name!r}] of shape "
                             f"({times.shape[0]}, {points.shape[0]}, …) (frames, nodes, …), got "
                             f"{values.shape}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    collection = ElementTree.Element("VTKFile", type="Collection", version="0.1")
    frames = ElementTree.SubElement(collection, "Collection")
    digits = max(4, len(str(times.shape[0] - 1)))
    for frame, time in enumerate(times):
        name = f"{stem}_{frame:0{digits}d}.vtu"
        data = {key: values[frame] for key, values in point_data.items()}
        meshio.write(directory / name, meshio.Mesh(points, [("tetra", cells)], point_data=data))
        ElementTree.SubElement(frames, "DataSet", timestep=repr(float(time)), part="0", file=name)
    pvd = directory / f"{stem}.pvd"
    ElementTree.indent(collection)
    ElementTree.ElementTree(collection).write(pvd, xml_declaration=True, encoding="utf-8")
    return pvd


def read_pvd(path: str | Path) -> list[tuple[float, Path]]:
    """(time, VTU path) of every frame a PVD collection lists, in file order."""
    root = ElementTree.parse(path).getroot()
    return [(float(entry.get("timestep")), Path(path).parent / entry.get("file"))
            for entry in root.iter("DataSet")]
