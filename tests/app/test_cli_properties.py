"""Issue 16: random configs and --set strings at `hodphys run`: a one-line error (exit 2) or a valid
run (exit 0) — never a traceback, never a changed existing run directory, never a stray new one."""
import shutil
import textwrap

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hodphys.app.cli import main
from hodphys.app.problem_loader import load_problem_file
from hodphys.app.settings import resolve_config
from hodphys.train.config import TrainConfig, validate
from tests.app.conftest import snapshot

PROBLEM = textwrap.dedent('''
    from dataclasses import dataclass, field
    from hodphys.train import TrainConfig
    NAME = "knobs"

    @dataclass
    class Config(TrainConfig):
        scale: float = 1.0
        label: str = "a"
        sizes: list[float] = field(default_factory=lambda: [1.0, 2.0])

    def check(config):
        if not config.scale > 0:
            raise ValueError(f"config key 'scale': expected a number > 0, got {config.scale}")

    def main(config, run):          # validation is what is under test: no training
        return {"scale": config.scale}
''')
KEYS = sorted(TrainConfig.__dataclass_fields__) + ["scale", "label", "sizes", "unknown", "", " lr", "seed\n"]
LITERALS = ["nan", "inf", "-inf", "1e400", "-0", "0", "-1", "1e30", "9223372036854775808", "2.5", "true", "none",
            "[]", "[nan]", "[1, 2]", "[[1]]", "[1e400]", "[-3]", '"', "\\", "{}", "a=b", "float64", "lbfgs",
            "newton-krylov", "multicomplex", "sin", "1e9", "100000", " 3 ", "0x10", "\x7f", "ä"]
VALUES = st.one_of(st.sampled_from(LITERALS), st.text(max_size=12), st.integers(-10**20, 10**20).map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr))
SETTINGS = st.one_of(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), VALUES), st.text(max_size=15))
TOML_VALUES = st.sampled_from(["nan", "inf", "-inf", "1", "-1", "0.5", '"x"', "[1, 2]", "[]", "{a = 1}", "true",
                               "1e400", "[nan]", "'float64'", "=", '"\\u0000"'])
CONFIG_FILES = st.one_of(st.none(), st.lists(st.builds(lambda k, v: f"{k.strip()} = {v}",
                                                       st.sampled_from(KEYS[:-3]), TOML_VALUES), max_size=4)
                         .map("\n".join), st.text(max_size=30))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("properties")
    (root / "knobs.py").write_text(PROBLEM)
    assert main(["run", str(root / "knobs.py"), "--runs", str(root / "runs"), "--set=n_interior=64",
                 "--set=grid_size=5", "--set=eval_points=10"]) == 0
    (existing,) = (root / "runs").iterdir()
    return root, existing, snapshot(existing)


def _assert_valid(problem_file, saved):
    module = load_problem_file(problem_file)
    config = resolve_config(module.Config, saved)  # config.toml is valid TOML with known keys
    validate(config)
    module.check(config)


def _restore(run_dir, files):
    shutil.rmtree(run_dir)
    for name, content in files.items():
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / name).write_bytes(content)


@settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sets=st.lists(SETTINGS, max_size=4), config_text=CONFIG_FILES, resume=st.booleans())
def test_the_cli_answers_bad_input_with_one_line_and_never_damages_a_run(world, capsys, sets, config_text,
                                                                         resume):
    root, existing, before = world
    argv = ["run", str(root / "knobs.py"), "--runs", str(root / "runs"), *(f"--set={s}" for s in sets)]
    if config_text is not None:
        (root / "given.toml").write_text(config_text)
        argv += ["--config", str(root / "given.toml")]
    if resume:
        argv += ["--resume", str(existing)]
    status = main(argv)
    err = capsys.readouterr().err
    event(f"exit status {status}")
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert status in (0, 2), err
    made = [p for p in (root / "runs").iterdir() if p != existing]
    if status == 2:
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert snapshot(existing) == before and not made
    else:  # a valid run: its saved config reads back and passes every check; then undo it
        (run_dir,) = made or [existing]
        _assert_valid(root / "knobs.py", run_dir / "config.toml")
        for path in made:
            shutil.rmtree(path)
        _restore(existing, before)
