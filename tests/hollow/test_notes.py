"""notes/hollow.md (the README section for HollowNets): its Python snippets run as written."""
import re
from pathlib import Path

import pytest

NOTES = (Path(__file__).resolve().parents[2] / "notes" / "hollow.md").read_text()
SNIPPETS = re.findall(r"```python\n(.*?)```", NOTES, flags=re.S)


def test_notes_have_a_snippet():
    assert SNIPPETS


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_notes_snippet_runs(index):
    prelude = "import torch, hodphys as hp\nfrom torch import nn\n"
    exec(compile(prelude + SNIPPETS[index], f"notes/hollow.md snippet {index}", "exec"), {})
