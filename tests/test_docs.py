"""docs/: the pages that teach show code, and the site builds with `mkdocs build --strict`.

The snippets themselves run (and check what they show) in tests/test_doc_snippets.py."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").rglob("*.md"))
SNIPPETS = [(page, index, code) for page in PAGES
            for index, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S))]


def test_the_pages_that_show_code_have_snippets():
    shown = {page.name for page, _, _ in SNIPPETS}
    assert {"api.md", "multicomplex.md", "hollow.md", "fem.md", "bench.md"} <= shown


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="the optional extra 'docs' is not installed")
    pytest.importorskip("mkdocstrings", reason="the optional extra 'docs' is not installed")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": ""},
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "reference" / "hp" / "index.html").read_text().count("hodphys.api.laplacian") >= 1
