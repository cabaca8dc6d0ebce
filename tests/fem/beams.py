"""The test cantilever: 1 × 0.1 × 0.1 (m), rubber-like stiffness, water density."""
from hodphys.fem import Cantilever, NeoHookean, box_tet_mesh
from hodphys.io.resources import MESH_DIR  # noqa: F401  (the shipped meshes, for the tests)
LENGTH, SIDE = 1.0, 0.1
YOUNG, POISSON, DENSITY = 1e7, 0.3, 1000.0
SECOND_MOMENT = SIDE**4 / 12          # I of the square cross-section


def make_beam(divisions=(10, 1, 1), poisson=POISSON, **kwargs) -> Cantilever:
    mesh = box_tet_mesh((LENGTH, SIDE, SIDE), divisions)
    return Cantilever.build(mesh, NeoHookean.from_young_poisson(YOUNG, poisson), DENSITY, **kwargs)
