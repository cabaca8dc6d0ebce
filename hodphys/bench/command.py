"""The ``hodphys bench`` subcommand: its arguments and what it does with them."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hodphys.bench import report
from hodphys.bench.registry import groups, load_cases, select_cases
from hodphys.bench.runner import DTYPES, BenchOptions, all_correct, run_bench


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``hodphys bench``."""
    parser.add_argument("--group", default=None,
                        help="run the cases of this group ('all' for every case; default: foundation)")
    parser.add_argument("--case", action="append", default=[], metavar="NAME",
                        help="run this case (repeatable; overrides --group)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and few repetitions: a smoke test of the harness in seconds")
    parser.add_argument("--repeat", type=int, default=None, help="timed repetitions (default 7; 3 with --quick)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed repetitions first (default 2; 1 with --quick)")
    parser.add_argument("--min-time", type=float, default=None, metavar="SECONDS",
                        help="a sample repeats fast contenders until it lasts this long (default 0.05; 0 with --quick)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="time by the wall clock (default) or by the process's CPU time (a shared machine)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=None,
                        help="measure each contender's peak memory (default: on, off with --quick)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="where to write the results (default bench-results/bench-<time>.json)")
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")


def options_from(args: argparse.Namespace) -> BenchOptions:
    """Resolve the defaults that depend on --quick."""
    return BenchOptions(
        group=args.group if args.group is not None or args.case else "foundation",
        cases=tuple(args.case), quick=args.quick,
        repeat=args.repeat if args.repeat is not None else (3 if args.quick else 7),
        warmup=args.warmup if args.warmup is not None else (1 if args.quick else 2),
        threads=args.threads, clock=args.clock, dtype=args.dtype, device=args.device,
        memory=args.memory if args.memory is not None else not args.quick,
        min_time=args.min_time if args.min_time is not None else (0.0 if args.quick else 0.05),
    )


def list_cases(group: str | None) -> str:
    """One line per case: name, group and the first line of its docstring."""
    load_cases()
    chosen = select_cases(group)
    width = max(len(case.name) for case in chosen)
    lines = [f"{case.name.ljust(width)}  [{case.group}]  {((case.build.__doc__ or '').strip().splitlines() or [''])[0]}"
             for case in chosen]
    return "\n".join(lines + [f"groups: {', '.join(groups())}"])


def bench(args: argparse.Namespace) -> int:
    """Run ``hodphys bench``: 0 when every contender matched its reference, 1 otherwise."""
    if args.list:
        print(list_cases(args.group))
        return 0
    options = options_from(args)
    results = run_bench(options, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(report.format_table(results, markdown=args.markdown))
    path = report.write_json(results, args.json if args.json is not None else report.default_json_path())
    print(f"results written to {path}")
    if not all_correct(results):
        print("some contenders FAILED or gave a WRONG result (see the check column)", file=sys.stderr)
        return 1
    return 0
