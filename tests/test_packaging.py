"""A non-editable install carries the built-in problems and meshes: the wheel's contents, and
`hodphys list` / `hodphys run poisson` run from the unpacked wheel (not from this checkout)."""
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from hodphys.app.cli import main; import hodphys; print(hodphys.__file__); sys.exit(main())"


def _shipped_files() -> set[str]:
    """What the wheel must carry: every problem script and config, every mesh."""
    files = {f"hodphys/problems/{p.name}" for pattern in ("*.py", "*.toml") for p in (ROOT / "problems").glob(pattern)}
    return files | {f"hodphys/meshes/{p.name}" for p in (ROOT / "meshes").glob("*.vtu")}


def _builds_in_place() -> bool:
    """Can this environment's setuptools build a wheel without fetching the build requirements?
    (bdist_wheel is built into setuptools ≥ 70.1; older ones need the wheel package.)"""
    if importlib.util.find_spec("setuptools") is None:
        return False
    major, minor = (int(part) for part in importlib.metadata.version("setuptools").split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip install .` would install, built from a copy of the sources (nothing written here)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source)
    for name in ("hodphys", "problems", "meshes"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    isolation = ["--no-build-isolation"] if _builds_in_place() else []  # else pip fetches setuptools
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, str(source), "-w", str(out)],
                   check=True, capture_output=True, timeout=300)
    (built,) = out.glob("hodphys-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel unpacked as site-packages would hold it."""
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def _hodphys(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(site), "PATH": "", "HOME": str(cwd)}, timeout=600)


def test_the_wheel_carries_problems_meshes_and_the_command(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert _shipped_files() <= names, sorted(_shipped_files() - names)
    assert "hodphys = hodphys.app.cli:main" in entry_points
    assert not any(n.startswith(("tests/", "problems/", "meshes/")) for n in names)


def test_an_installed_hodphys_lists_its_problems(installed, tmp_path):
    result = _hodphys(installed, "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == str(installed / "hodphys" / "__init__.py")
    listed = {line.split()[0] for line in result.stdout.splitlines()[1:]}
    assert {"poisson", "poisson-nd", "beam-fom", "beam-fom-dataset"} <= listed


@pytest.mark.slow
def test_an_installed_hodphys_runs_poisson(installed, tmp_path):
    result = _hodphys(installed, "run", "poisson", "--set", "adam_steps=10", "--set", "optimizer_steps=5",
                      "--runs", str(tmp_path / "runs"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "metrics.json").is_file() and (run_dir / "model.pt").is_file()
