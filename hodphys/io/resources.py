"""Where the files that ship with hodphys live: the built-in problems and the example meshes.

    from hodphys.io.resources import MESH_DIR, PROBLEMS_DIR
    read_mesh(MESH_DIR / "beam_coarse.vtu")
"""
from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
PROBLEMS_DIR = _ROOT / "problems"  # one problem script per file (see hodphys.app.problem_loader)
MESH_DIR = _ROOT / "meshes"  # tetrahedral meshes (VTU) the FEM problems and benchmarks use
