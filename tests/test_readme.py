"""The README's Python snippets run as written."""
import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
SNIPPETS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs(index):
    namespace: dict = {}
    prelude = "import torch, hodphys as hp\nfrom torch import nn\n"
    exec(compile(prelude + SNIPPETS[index], f"README snippet {index}", "exec"), namespace)


def test_readme_has_the_two_setup_commands():
    assert 'pip install torch==2.13.0 && pip install -e ".[test]" && hodphys run poisson' in README
    assert "python -m pytest -q" in README
