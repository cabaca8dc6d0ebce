"""The package's layers (pyproject.toml [tool.importlinter]) hold, and an upward import breaks them."""
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is in the 'test' extra")

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = ("fem", "pinn", "rom", "flows", "sde")
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the hodphys package found first on the path from ``cwd``."""
    return subprocess.run([sys.executable, "-c", LINT, "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(cwd), "PATH": "", "NO_COLOR": "1"}, timeout=120)


def test_the_layers_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    shutil.copytree(ROOT / "hodphys", tmp_path / "hodphys", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    low = tmp_path / "hodphys" / "nn" / "access.py"
    low.write_text(low.read_text() + "\nfrom hodphys.app import cli  # noqa: E402\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "hodphys.nn is not allowed to import hodphys.app" in result.stdout
    assert "hodphys.nn.access -> hodphys.app.cli" in result.stdout


def test_every_domain_package_is_kept_off_engine_internals():
    """The 'forbidden' contract lists its domains by name; a new domain package must be added."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (forbidden,) = [c for c in contracts if c["type"] == "forbidden"]
    present = {f"hodphys.{name}" for name in DOMAINS if (ROOT / "hodphys" / name / "__init__.py").is_file()}
    assert present <= set(forbidden["source_modules"]), "add the new domain to source_modules"
