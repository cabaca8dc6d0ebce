"""The TOML settings shipped next to the problems resolve against their problem's Config."""
from pathlib import Path

import pytest

from hodphys.app.settings import resolve_config
from hodphys.app.problem_loader import find_problem

PROBLEMS = Path(__file__).resolve().parents[2] / "problems"


@pytest.mark.parametrize("problem, toml, expected", [
    ("poisson", "poisson_accurate.toml", {"dtype": "float64", "optimizer_steps": 6000}),
    ("poisson-nd", "poisson_nd_d5.toml", {"dim": 5, "dtype": "float64", "finetune_points": 4096}),
    ("poisson-nd", "poisson_nd_d100.toml", {"dim": 100, "finetune_resample_every": 50}),
])
def test_shipped_settings_resolve(problem, toml, expected):
    config = resolve_config(find_problem(problem).Config, PROBLEMS / toml)
    assert {key: getattr(config, key) for key in expected} == expected
