import importlib.util

import pytest

from hodphys.fem import box_tet_mesh, write_mesh
from hodphys.bench.studies.fem import bench_newton_iteration, growth_exponents, main, markdown_table

HAS_FELUPE = importlib.util.find_spec("felupe") is not None


@pytest.fixture
def meshes(tmp_path):
    paths = []
    for n in (6, 12):
        path = tmp_path / f"beam{n}.vtu"
        write_mesh(box_tet_mesh((1.0, 0.1, 0.1), (n, 1, 1)), path)
        paths.append(path)
    return paths


def test_bench_rows_time_every_contender_and_agree_with_felupe(meshes):
    rows = [bench_newton_iteration(path, repeat=2, warmup=1, with_felupe=HAS_FELUPE, min_time=0.0)
            for path in meshes]
    assert [row["free_dofs"] for row in rows] == [72, 144]
    for row in rows:
        assert row["hodphys iteration"] == pytest.approx(row["hodphys assembly"]
                                                         + row["hodphys solve (banded-cholesky)"])
        assert 0 < row["hodphys assembly min"] <= row["hodphys assembly"]
        if HAS_FELUPE:
            assert row["step_difference"] < 1e-8          # both codes take the same Newton step
            assert row["speed-up"] == pytest.approx(row["felupe iteration"] / row["hodphys iteration"])
    exponents = growth_exponents(rows)
    assert set(exponents) >= {"hodphys assembly", "hodphys iteration"}
    table = markdown_table(rows)
    assert "| hodphys assembly [ms] |" in table and "growth t ∝ dofs^p" in table


def test_command_line_without_felupe(meshes, capsys):
    rows = main(["--repeat", "1", "--min-time", "0", "--no-felupe", str(meshes[0])])
    assert "speed-up" not in rows[0]
    assert "beam6.vtu (72 dofs)" in capsys.readouterr().out
