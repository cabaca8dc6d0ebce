"""Issue 16, items 5–7: failures are reported as failures (exit status, traceback or one line) and
recorded in the run directory (run.log, status.json), Ctrl-C included; path errors are one line."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hodphys.app.cli import main

REPO = Path(__file__).resolve().parents[2]


def _cli(capsys, *argv: str) -> tuple[int, list[str]]:
    status = main(["run", *argv])
    err = capsys.readouterr().err
    return status, err.strip().splitlines()


def _only_run(root: Path) -> Path:
    (run_dir,) = [p for p in root.iterdir() if p.is_dir()]
    return run_dir


def test_usage_errors_are_one_line_with_status_2(capsys, tmp_path, toy):
    for argv in (["--set", "stepz=3"], ["--set", "steps"], ["--set", "scale=nan"], ["--set", "steps=0"],
                 ["--config", str(tmp_path)], ["--resume", str(tmp_path / "nothing")]):
        status, lines = _cli(capsys, str(toy), "--runs", str(tmp_path / "runs"), *argv)
        assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), (argv, lines)
    assert not (tmp_path / "runs").exists()


def test_an_exception_in_the_problems_code_shows_where_with_status_1(capsys, tmp_path, toy):
    status, lines = _cli(capsys, str(toy), "--runs", str(tmp_path), "--set", "fail=value")
    text = "\n".join(lines)
    assert status == 1 and "Traceback (most recent call last)" in text
    line = TOY_LINE("raise ValueError(\"the toy")
    assert lines[-1].startswith(f"error: the problem's code raised ValueError: the toy's own complaint at "
                                f"{toy.resolve()}:{line} in main() (run {_only_run(tmp_path)} failed; resume with:")


def TOY_LINE(fragment: str) -> int:
    from tests.app.conftest import TOY

    return next(i for i, line in enumerate(TOY.splitlines(), 1) if fragment in line)


def test_a_syntax_error_in_a_problem_file_is_one_message_with_file_and_line(capsys, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("NAME = 'broken'\n\ndef main(config, run)\n    return {}\n")
    status, lines = _cli(capsys, str(broken), "--runs", str(tmp_path / "runs"))
    assert status == 2 and len(lines) == 1
    assert lines[0].startswith(f"error: problem file {broken}:3: SyntaxError: expected ':'")


def test_a_failure_is_recorded_in_run_log_and_status_json(capsys, tmp_path, toy):
    _cli(capsys, str(toy), "--runs", str(tmp_path), "--set", "fail=value")
    run_dir = _only_run(tmp_path)
    log = (run_dir / "run.log").read_text()
    assert "Traceback (most recent call last)" in log and 'raise ValueError("the toy\'s own complaint")' in log
    closing = log.strip().splitlines()[-1]
    assert closing.endswith(f"run failed: ValueError: the toy's own complaint; resume with: hodphys run "
                            f"{toy.resolve()} --resume {run_dir}")
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "failed" and status["error"] == "ValueError: the toy's own complaint"


def test_ctrl_c_is_one_line_with_the_resume_command_and_is_recorded(capsys, tmp_path, toy):
    status, lines = _cli(capsys, str(toy), "--runs", str(tmp_path), "--set", "fail=interrupt")
    run_dir = _only_run(tmp_path)
    assert status == 130 and not any("Traceback" in line for line in lines)
    assert lines[-1] == f"interrupted; resume with: hodphys run {toy.resolve()} --resume {run_dir}"
    assert "run interrupted (Ctrl-C); resume with:" in (run_dir / "run.log").read_text()
    assert json.loads((run_dir / "status.json").read_text())["status"] == "interrupted"


SLEEPER = textwrap.dedent('''
    import time
    from dataclasses import dataclass
    from pathlib import Path
    NAME = "sleeper"

    @dataclass
    class Config:
        seed: int = 0

    def main(config, run):
        (run.dir / "started").write_text("yes")
        time.sleep(60)
''')


@pytest.mark.slow  # a fresh interpreter importing torch: ~5 s alone, 20 s on a loaded machine
def test_a_real_sigint_ends_the_command_with_one_line(tmp_path):
    problem = tmp_path / "sleeper.py"
    problem.write_text(SLEEPER)
    runs = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-m", "hodphys", "run", str(problem), "--runs", str(runs)],
                               cwd=REPO, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    while not list(runs.glob("*/started")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    run_dir = _only_run(runs)
    assert process.returncode == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"interrupted; resume with: hodphys run {problem} --resume {run_dir}"
    assert json.loads((run_dir / "status.json").read_text())["status"] == "interrupted"


def test_a_finished_run_says_so(tmp_path, capsys, toy):
    assert _cli(capsys, str(toy), "--runs", str(tmp_path))[0] == 0
    assert json.loads((_only_run(tmp_path) / "status.json").read_text())["status"] == "finished"


def test_path_errors_are_one_line(capsys, tmp_path, toy):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = {("--runs", str(a_file)): "--runs .*a_file: is a file, expected a directory",
             ("--runs", str(a_file / "below")): "--runs .*below: cannot be made: .*a_file is a file",
             ("--resume", str(a_file)): "--resume .*a_file: is a file, expected a run directory"}
    for argv, message in cases.items():
        status, lines = _cli(capsys, str(toy), *argv)
        assert status == 2 and len(lines) == 1, lines
        assert __import__("re").match(f"error: {message}", lines[0]), lines
    status, lines = _cli(capsys, str(tmp_path))  # a directory given as the problem
    assert status == 2 and lines == [f"error: problem file {tmp_path}: is a directory, expected a Python file "
                                     f"ending in .py"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_runs_directory_is_one_line(capsys, tmp_path, toy):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    status, lines = _cli(capsys, str(toy), "--runs", str(locked / "runs"))
    assert status == 2 and lines == [f"error: --runs {locked / 'runs'}: cannot write in {locked} (permission denied)"]
