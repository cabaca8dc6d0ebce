"""The ``hodphys`` command: a thin dispatcher, one small function per subcommand.

    hodphys run NAME|file.py [--config f.toml] [--set key=value …] [--device cuda] [--resume RUNDIR]
    hodphys list
    hodphys bench [--group G | --case NAME …] [--quick] [--json PATH] …
"""
from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from hodphys.errors import InputError, RunFailure


def _bench(args: argparse.Namespace) -> int:
    from hodphys.bench.command import bench  # imported on use: other subcommands need not load it

    return bench(args)


def _run(args: argparse.Namespace) -> int:
    from hodphys.app.problem_loader import run_problem

    run_problem(args.problem, args.config, args.set, device=args.device, resume=args.resume,
                root=args.runs)
    return 0


def _list(args: argparse.Namespace) -> int:
    from hodphys.app.problem_loader import PROBLEMS_DIR, header, known_problems

    problems = known_problems()
    if not problems:
        print(f"no problems found in {PROBLEMS_DIR}")
    for name, path in problems.items():
        print(f"{name:<20} {header(path)['DESCRIPTION']}")
    return 0


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("problem", help="a problem name (see `hodphys list`) or a path to a problem .py file")
    parser.add_argument("--config", help="a TOML file of config values")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value (repeatable)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--resume", metavar="RUNDIR", help="continue the run in RUNDIR from its last checkpoint")
    parser.add_argument("--runs", default="runs", metavar="DIR", help="where run directories are made")


def _parser() -> argparse.ArgumentParser:
    from hodphys.bench.command import add_arguments

    parser = argparse.ArgumentParser(prog="hodphys", description="Fast, exact high-order derivatives of "
                                     "PyTorch networks for physics-informed solving.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run a problem; writes runs/<problem>-<time>/")
    _add_run_arguments(run)
    run.set_defaults(handler=_run)
    listing = commands.add_parser("list", help="list the problems `hodphys run` knows")
    listing.set_defaults(handler=_list)
    bench = commands.add_parser("bench", help="time every derivative engine against torch.func and autograd loops")
    add_arguments(bench)
    bench.set_defaults(handler=_bench)
    return parser


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _in_problem_file(error: BaseException, problem_file: str) -> str:
    """' at FILE:LINE in FUNCTION()' for the innermost frame of the traceback in the problem's file."""
    found = ""
    for frame, line in traceback.walk_tb(error.__traceback__):
        if str(Path(frame.f_code.co_filename).resolve()) == problem_file:
            found = f" at {problem_file}:{line} in {frame.f_code.co_name}()"
    return found


def report_failure(error: Exception) -> int:
    """Print what went wrong and return the exit status: 2 for bad input (one line), 1 for a run
    that failed (one line for a stated reason, the traceback for a bug in the problem's code)."""
    ending = getattr(error, "hodphys_run", None)
    problem_file = getattr(error, "hodphys_problem_file", None)
    where = f" (run {ending.run_dir} failed; {ending.next_command})" if ending is not None else ""
    if isinstance(error, InputError) or (problem_file is None and isinstance(error, (ValueError, OSError))):
        print(f"error: {_one_line(error)}{where}", file=sys.stderr)
        return 2
    if isinstance(error, RunFailure):
        print(f"error: {_one_line(error)}{where}", file=sys.stderr)
        return 1
    if problem_file is None:
        raise error  # a bug in hodphys itself: Python's own report
    traceback.print_exception(error)
    print(f"error: the problem's code raised {type(error).__name__}: {_one_line(error)}"
          f"{_in_problem_file(error, problem_file)}{where}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the subcommand. Exit status 2: bad input (one line);
    1: the run failed; 130: interrupted (Ctrl-C), with the command that resumes."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt as interrupt:
        ending = getattr(interrupt, "hodphys_run", None)
        print(f"interrupted; {ending.next_command}" if ending is not None else "interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        return report_failure(error)


if __name__ == "__main__":
    sys.exit(main())
