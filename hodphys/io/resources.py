"""Where the files that ship with hodphys live: the built-in problems and the example meshes.

In a source checkout they are the repository's ``problems/`` and ``meshes/``; an installed wheel
carries the same folders inside the package (``hodphys/problems``, ``hodphys/meshes``; see setup.py).

    from hodphys.io.resources import MESH_DIR, PROBLEMS_DIR
    read_mesh(MESH_DIR / "beam_coarse.vtu")
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # hodphys/


def _shipped(name: str) -> Path:
    """``hodphys/<name>`` of an installed wheel, else ``<repository>/<name>`` of a checkout."""
    installed = _PACKAGE / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


PROBLEMS_DIR = _shipped("problems")  # one problem script per file (see hodphys.app.problem_loader)
MESH_DIR = _shipped("meshes")  # tetrahedral meshes (VTU) the FEM problems and benchmarks use
