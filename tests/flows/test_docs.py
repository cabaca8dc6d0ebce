"""docs/flows.md: its Python snippets run as written."""
import re
from pathlib import Path

import pytest

DOC = (Path(__file__).resolve().parents[2] / "docs" / "flows.md").read_text()
SNIPPETS = re.findall(r"```python\n(.*?)```", DOC, flags=re.S)


def test_the_doc_has_snippets():
    assert len(SNIPPETS) == 2


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_doc_snippet_runs(index):
    exec(compile(SNIPPETS[index], f"docs/flows.md snippet {index}", "exec"), {})
