"""The example script runs end to end and prints what it promises."""
import runpy
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hollow_divergence.py"


def test_hollow_divergence_example_runs(capsys):
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "chosen method='hollow'" in out
    assert "hollow: max_i |∂h_i/∂x_i| = 0" in out
    assert "Jacobi–Newton converged" in out
