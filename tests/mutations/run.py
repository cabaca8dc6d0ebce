"""Plant each catalogued bug in a temporary copy of the project and check the named tests fail.

    python -m tests.mutations.run                 # every mutation in catalog.py
    python -m tests.mutations.run request-flip    # only these (names from the catalog)
    python -m tests.mutations.run --list

Not part of the default test run (no ``test_`` module here runs a mutation): each mutation copies
the project, edits one file and runs its fast tests in a subprocess, a few seconds to a minute each.
Exit status 1 if any planted bug survived (its tests passed) or is stale (its search string no
longer occurs exactly once: update catalog.py).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.mutations.catalog import MUTATIONS, Mutation

ROOT = Path(__file__).resolve().parents[2]
COPIED = ["hodphys", "tests", "problems", "examples", "meshes", "notes", "docs", "README.md", "pyproject.toml"]


def apply(mutation: Mutation, root: Path) -> None:
    """Make the mutation's edits under ``root``; each search string must occur exactly once."""
    for file, search, replacement in mutation.edits:
        path = root / file
        text = path.read_text()
        count = text.count(search)
        if count != 1:
            raise ValueError(f"mutation {mutation.name!r}: expected {search!r} once in {file}, "
                             f"found it {count} times; update tests/mutations/catalog.py")
        path.write_text(text.replace(search, replacement))


def copy_project(target: Path) -> None:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.exists():
            shutil.copy2(source, target / name)


def run_tests(root: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess:
    """pytest on the copy (its hodphys first on sys.path, ahead of any editable install)."""
    env = os.environ | {"PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    probe = subprocess.run([sys.executable, "-c", "import hodphys; print(hodphys.__file__)"], cwd=root, env=env,
                           capture_output=True, text=True, check=True)
    if not probe.stdout.strip().startswith(str(root)):
        raise RuntimeError(f"the copy's hodphys is not the one imported: {probe.stdout.strip()}")
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:xdist", "-p", "no:cacheprovider", *tests]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)


def check(mutation: Mutation) -> tuple[bool, str]:
    """(caught, the failing tests' summary) for one planted bug."""
    with tempfile.TemporaryDirectory(prefix=f"mutation-{mutation.name}-") as tmp:
        root = Path(tmp)
        copy_project(root)
        apply(mutation, root)
        result = run_tests(root, mutation.tests)
    failed = [line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return result.returncode == 1 and bool(failed), "\n    ".join(failed) or result.stdout[-600:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the catalogue and exit")
    args = parser.parse_args(argv)
    known = {m.name: m for m in MUTATIONS}
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:<34} {m.file}: {m.why}")
        return 0
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        parser.error(f"unknown mutation(s) {unknown}; expected some of {sorted(known)}")
    survived = 0
    for mutation in [known[n] for n in args.names] or MUTATIONS:
        start = time.perf_counter()
        try:
            caught, summary = check(mutation)
            verdict = "caught  " if caught else "SURVIVED"
        except ValueError as stale:     # a search string that no longer occurs exactly once
            caught, summary, verdict = False, str(stale), "STALE   "
        survived += not caught
        print(f"{verdict} {mutation.name} ({time.perf_counter() - start:.0f} s)\n    {summary}", flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
