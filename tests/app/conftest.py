"""Small problem files and a snapshot of a run directory, for the run-lifecycle tests."""
import textwrap
from pathlib import Path

import pytest

TOY = textwrap.dedent('''
    from dataclasses import dataclass
    import torch
    NAME = "toy"
    DESCRIPTION = "a toy problem"

    @dataclass
    class Config:
        steps: int = 3
        seed: int = 1
        scale: float = 1.0
        fail: str = ""          # "value": main raises ValueError; "interrupt": KeyboardInterrupt

    def check(config):
        if config.steps < 1:
            raise ValueError(f"config key 'steps': expected an integer ≥ 1, got {config.steps}")

    def main(config, run):
        total = 0.0
        for step in range(config.steps):
            total += config.scale * float(torch.rand(()))
            run.append_metrics(step=step, total=total)
        if config.fail == "value":
            raise ValueError("the toy's own complaint")
        if config.fail == "interrupt":
            raise KeyboardInterrupt
        return {"total": total}
''')


@pytest.fixture
def toy(tmp_path) -> Path:
    path = tmp_path / "toy.py"
    path.write_text(TOY)
    return path


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its bytes (what a refused command must leave as it was)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
