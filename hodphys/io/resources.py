"""Where the files that ship with hodphys live: the built-in problems and the example meshes.

In a source checkout they are the repository's ``problems/`` and ``meshes/``; an installed wheel
carries the same folders inside the package (``hodphys/problems``, ``hodphys/meshes``; see setup.py).

    from hodphys.io.resources import MESH_DIR, PROBLEMS_DIR
    read_mesh(MESH_DIR / "beam_coarse.vtu")
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_PACKAGE = Path(__file__).resolve().parents[1]  # hodphys/


def _shipped(name: str) -> Path:
    """``hodphys/<name>`` of an installed wheel, else ``<repository>/<name>`` of a checkout."""
    installed = _PACKAGE / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


PROBLEMS_DIR = _shipped("problems")  # one problem script per file (see hodphys.app.problem_loader)
MESH_DIR = _shipped("meshes")  # tetrahedral meshes (VTU) the FEM problems and benchmarks use


def load_python_file(path: Path, name: str) -> ModuleType:
    """Run the Python file ``path`` as module ``name`` (registered in ``sys.modules`` while it runs,
    as dataclasses need; removed again if it raises), with its folder on ``sys.path`` so it may
    import modules beside it. Exceptions from the file propagate unchanged."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    folder = str(path.parent.resolve())
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    finally:
        sys.path.remove(folder)
    return module
