"""Problem files and meshes that are not what hodphys expects get an error naming them."""
import pytest

from hodphys.fem.mesh import read_mesh
from hodphys.app.problem_loader import find_problem, load_problem_file, run_problem

HEADER = "from dataclasses import dataclass\nNAME = 'p'\n"


def _write(tmp_path, body, name="p.py"):
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def test_config_fields_need_defaults(tmp_path):
    path = _write(tmp_path, "@dataclass\nclass Config:\n    x: int\ndef main(config, run):\n    return {}\n")
    with pytest.raises(ValueError, match=r"every Config field needs a default; \['x'\]"):
        load_problem_file(path)


def test_main_must_return_metrics(tmp_path):
    path = _write(tmp_path, "@dataclass\nclass Config:\n    x: int = 1\ndef main(config, run):\n    return 3\n")
    with pytest.raises(TypeError, match="main\\(config, run\\) must return a dict"):
        run_problem(str(path), root=tmp_path / "runs")


def test_a_file_named_like_a_problem_does_not_shadow_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "poisson").write_text("not python")
    assert find_problem("poisson").NAME == "poisson"
    with pytest.raises(ValueError, match="expected a Python file ending in .py"):
        load_problem_file(tmp_path / "poisson")


@pytest.mark.parametrize("content, suffix", [(b"<VTKFile garbage", ".vtu"), (b"\x00\x01", ".xyz")])
def test_unreadable_meshes_are_named(tmp_path, content, suffix):
    path = tmp_path / f"mesh{suffix}"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"read_mesh\(.*mesh.*not a mesh meshio can read"):
        read_mesh(path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_mesh(tmp_path / "missing.vtu")


@pytest.mark.parametrize("setting, message", [
    ({"vtu_every": -3}, "'vtu_every': expected a value ≥ 1"),
    ({"pulse_duration": -1.0}, "'pulse_duration': expected a value ≥ 0"),
    ({"max_halvings": -1}, "'max_halvings': expected a value ≥ 0"),
    ({"tip_force": [1.0, 2.0]}, r"'tip_force': expected 3 components"),
])
def test_beam_settings_are_checked_before_the_beam_is_built(setting, message):
    beam = find_problem("beam-fom")
    with pytest.raises(ValueError, match=message):
        beam.simulate_beam(beam.Config(**setting), run=None)
