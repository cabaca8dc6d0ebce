"""Every Python snippet in README.md and docs/**/*.md runs and checks what it shows.

A snippet that only runs proves little (a wrong value printed or discarded passes), so each
```python block must do one of:

1. contain an ``assert`` (or an ``assert_*`` call such as ``torch.testing.assert_close``) that checks
   what the snippet claims (a value, a shape, a choice);
2. be followed, after blank lines only, by a ```text block holding the exact output of its print
   calls. Lines are compared one by one; a number matches to the digits written (0.2907 means
   |printed − 0.2907| ≤ 5e-5, and at most 1e-9 relative); ``...`` in a line matches any text;
3. be preceded by the line ``<!-- snippet: not run: <reason> -->`` (a fragment, or something too long
   for the default test run): it is reported as skipped with that reason.

A snippet that does none of these fails, saying so. Snippets run from the repository root in a
fresh namespace with ``import torch, hodphys as hp`` and ``from torch import nn`` done, after
``torch.manual_seed(0)``; a snippet whose code appears twice (README and docs) runs once.
"""
from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
PRELUDE = "import torch, hodphys as hp\nfrom torch import nn\n"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*snippet:\s*not run:\s*(.+?)\s*-->\s*$")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Snippet:
    source: str            # "docs/fem.md:50"
    code: str
    expected: str | None   # the ```text block after it
    not_run: str | None    # the reason, for <!-- snippet: not run: … -->


def snippets_of(path: Path) -> list[Snippet]:
    """The ```python blocks of one Markdown file, each with its expected output or skip reason."""
    text = path.read_text()
    blocks = list(FENCE.finditer(text))
    found = []
    for i, block in enumerate(blocks):
        if block.group(1) != "python":
            continue
        after = blocks[i + 1] if i + 1 < len(blocks) else None
        expected = None
        if after is not None and after.group(1) == "text" and not text[block.end():after.start()].strip():
            expected = after.group(2)
        before = text[:block.start()].rstrip("\n").rsplit("\n", 1)[-1]
        reason = NOT_RUN.search(before)
        line = text.count("\n", 0, block.start()) + 1
        found.append(Snippet(f"{path.relative_to(ROOT)}:{line}", block.group(2), expected,
                             reason.group(1) if reason else None))
    return found


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def unique(snippets: list[Snippet]) -> list[Snippet]:
    """One of each code text (README repeats snippets of the docs): the first place it appears."""
    first: dict[str, Snippet] = {}
    for snippet in snippets:
        first.setdefault(snippet.code, snippet)
    return list(first.values())


SNIPPETS = unique([s for path in documents() for s in snippets_of(path)])


def _is_assertion(node: ast.AST) -> bool:
    """An ``assert`` statement, or a call of an assertion function (``torch.testing.assert_close``)."""
    if isinstance(node, ast.Assert):
        return True
    if not isinstance(node, ast.Call):
        return False
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    return name.startswith("assert_")


def has_assert(code: str) -> bool:
    return any(_is_assertion(node) for node in ast.walk(ast.parse(code)))


def _numbers_match(shown: str, printed: str) -> bool:
    """printed agrees with shown to the digits shown (and to 1e-9 relative at least)."""
    decimals = len(shown.split(".")[1].split("e")[0].split("E")[0]) if "." in shown else 0
    exponent = int(re.split("[eE]", shown)[1]) if re.search("[eE]", shown) else 0
    a, b = float(shown), float(printed)
    return abs(a - b) <= max(0.5 * 10.0 ** (exponent - decimals), 1e-9 * abs(a))


def line_matches(shown: str, printed: str) -> bool:
    """One expected line against one printed line: text equal, numbers to the digits shown, ... any."""
    parts = [p for p in re.split(rf"(\.\.\.|{NUMBER.pattern})", shown.rstrip()) if p]
    numbers = [p for p in parts if NUMBER.fullmatch(p)]
    pattern = "".join(".*?" if p == "..." else f"({NUMBER.pattern})" if NUMBER.fullmatch(p) else re.escape(p)
                      for p in parts)
    match = re.fullmatch(pattern, printed.rstrip())
    return match is not None and all(map(_numbers_match, numbers, match.groups()))


def output_matches(expected: str, printed: str) -> bool:
    shown, got = expected.rstrip("\n").split("\n"), printed.rstrip("\n").split("\n")
    return len(shown) == len(got) and all(line_matches(s, g) for s, g in zip(shown, got))


def run_snippet(snippet: Snippet) -> str:
    """Execute the snippet from the repository root; returns what it printed."""
    namespace: dict = {"__name__": "__snippet__"}
    out = io.StringIO()
    cwd = os.getcwd()
    torch.manual_seed(0)
    try:
        os.chdir(ROOT)
        with contextlib.redirect_stdout(out), threadpool_limits(limits=1):   # BLAS threads only fight in CI
            exec(compile(PRELUDE + snippet.code, snippet.source, "exec"), namespace)
    finally:
        os.chdir(cwd)
    return out.getvalue()


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.source for s in SNIPPETS])
def test_snippet_checks_what_it_shows(snippet):
    if snippet.not_run is not None:
        pytest.skip(f"{snippet.source}: {snippet.not_run}")
    if snippet.expected is None and not has_assert(snippet.code):
        pytest.fail(f"{snippet.source}: this snippet checks nothing; add an assert of what it shows, or "
                    f"a ```text block right after it with its printed output (see tests/test_doc_snippets.py)")
    printed = run_snippet(snippet)
    if snippet.expected is not None:
        assert output_matches(snippet.expected, printed), (
            f"{snippet.source}: printed\n{printed}\nbut the document shows\n{snippet.expected}")


def test_the_documents_are_found_and_have_snippets():
    assert ROOT / "README.md" in documents() and len(SNIPPETS) >= 4


@pytest.mark.parametrize("shown, printed, same", [
    ("tip z = -0.1007 m", "tip z = -0.10071 m", True),
    ("tip z = -0.1007 m", "tip z = -0.1013 m", False),
    ("error 3e-12", "error 2.6e-12", True),
    ("error 3e-12", "error 9e-12", False),
    ("hessian: chosen method='analytic-backward'", "hessian: chosen method='analytic-backward'", True),
    ("hessian: chosen method='analytic-backward'", "hessian: chosen method='multicomplex'", False),
    ("  autograd ... cost ...", "  autograd      estimated cost 1.2e+06 multiply-adds", True),
    ("shape (512, 64)", "shape (512, 63)", False),
])
def test_expected_output_comparison(shown, printed, same):
    assert line_matches(shown, printed) is same


def test_snippets_are_found_with_their_output_block_and_skip_reason(tmp_path, monkeypatch):
    doc = tmp_path / "doc.md"
    doc.write_text("a\n```python\nprint(1 + 1)\n```\n\n```text\n2\n```\n"
                   "<!-- snippet: not run: needs a GPU -->\n```python\nx = 1\n```\n```python\ny = 2\n```\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)   # the source names are relative to it
    first, skipped, bare = snippets_of(doc)
    assert (first.expected, first.not_run) == ("2\n", None) and output_matches(first.expected, run_snippet(first))
    assert skipped.not_run == "needs a GPU" and bare.expected is None and not has_assert(bare.code)
    assert not output_matches("3\n", run_snippet(first))


def test_readme_has_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    assert 'pip install torch==2.13.0 && pip install -e ".[test]" && hodphys run poisson' in readme
    assert "python -m pytest -q" in readme
