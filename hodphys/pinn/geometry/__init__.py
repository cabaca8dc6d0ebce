"""Domains for PINNs: primitives, CSG, space × time and meshes, with interior/boundary sampling,
outward normals, signed distances and named boundary parts (see :mod:`.base`).

    from hodphys.pinn.geometry import Box, Disk, Polygon, SpaceTime, Interval
    lshape = Polygon([(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)])
    hole = Box([0, 0], [1, 1]) - Disk([0.5, 0.5], 0.2)
    burgers = SpaceTime(Interval(-1, 1), 0, 1)          # parts "left", "right", "initial" ("t == 0")
"""
from hodphys.pinn.geometry.base import BOUNDARY, METHODS, Geometry, Piece, unit_cube
from hodphys.pinn.geometry.csg import Difference, Intersection, Union
from hodphys.pinn.geometry.mesh import MeshDomain
from hodphys.pinn.geometry.primitives import Ball, Box, Disk, Interval, Polygon
from hodphys.pinn.geometry.spacetime import SpaceTime

__all__ = ["Geometry", "Piece", "BOUNDARY", "METHODS", "unit_cube", "Interval", "Box", "Ball", "Disk",
           "Polygon", "Union", "Difference", "Intersection", "SpaceTime", "MeshDomain"]
