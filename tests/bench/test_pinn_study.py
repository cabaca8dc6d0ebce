"""The PINN training-step benchmark: every contender computes the same gradient; the report."""
import pytest
import torch

import hodphys as hp
from hodphys.bench.references import deepxde
from hodphys.bench.studies import pinn as benchmark
from hodphys.bench.studies.pinn import compare, laplacians, poisson_step_inputs, table, training_step

TINY = {"n_interior": 12, "n_boundary": 6, "widths": (7, 7)}


@pytest.mark.parametrize("name", list(laplacians()))
def test_every_laplacian_keeps_its_graph_and_matches_hodphys(name):
    model, x, f, x_b, g = poisson_step_inputs(torch.float64, **TINY)
    expected = hp.laplacian(model, x, method="autograd")
    assert torch.allclose(laplacians()[name](model, x), expected, rtol=1e-10, atol=1e-12)
    gradient = training_step(laplacians()[name], model, x, f, x_b, g)()
    reference = training_step(benchmark.func_laplacian, model, x, f, x_b, g)()
    assert gradient.shape == (sum(p.numel() for p in model.parameters()),)
    assert torch.allclose(gradient, reference, rtol=1e-10, atol=1e-12)


def test_compare_reports_medians_ratios_and_errors():
    rows = compare(("float64",), repeat=1, warmup=0, deepxde_model=False, **TINY)
    names = [row["contender"] for row in rows]
    assert names[:3] == ["hodphys", "torch.func", "DeepXDE-style loop"]
    hodphys = rows[0]
    assert hodphys["slower"] == 1.0 and hodphys["error"] == 0.0 and hodphys["median"] > 0
    assert all(row["error"] < 1e-10 for row in rows)
    text = table(rows)
    assert text.splitlines()[0].startswith("| dtype | contender |") and len(text.splitlines()) == 2 + len(rows)


@pytest.mark.skipif(not deepxde.deepxde_available(), reason="DeepXDE (the optional extra 'bench') is not installed")
def test_deepxde_model_step_trains_its_own_network():
    step = deepxde.deepxde_model_step(torch.float32, **TINY)
    default = torch.get_default_dtype()
    step()
    step()
    assert torch.get_default_dtype() == default
