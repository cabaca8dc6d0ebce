"""The ``hodphys`` command: a thin dispatcher, one small function per subcommand.

    hodphys bench [--group G | --case NAME …] [--quick] [--json PATH] …
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence


def _bench(args: argparse.Namespace) -> int:
    from hodphys.bench.command import bench  # imported on use: other subcommands need not load it

    return bench(args)


def _parser() -> argparse.ArgumentParser:
    from hodphys.bench.command import add_arguments

    parser = argparse.ArgumentParser(prog="hodphys", description="Fast, exact high-order derivatives of "
                                     "PyTorch networks for physics-informed solving.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = commands.add_parser("bench", help="time every derivative engine against torch.func and autograd loops")
    add_arguments(bench)
    bench.set_defaults(handler=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the subcommand; a bad input exits with status 2 and a message."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
