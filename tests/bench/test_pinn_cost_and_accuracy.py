"""The PINN step-cost counter and the hodphys-vs-DeepXDE accuracy study (DeepXDE parts need the 'bench' extra)."""
import importlib.util

import pytest
import torch

from hodphys.bench.cases import pinn_suite
from hodphys.bench.registry import BenchEnv
from hodphys.bench.studies import pinn_accuracy, pinn_cost
from hodphys.pinn import Dirichlet, Periodic, PinnConfig, Problem
from hodphys.pinn.geometry import Box, Disk, Interval, SpaceTime

HAS_DEEPXDE = importlib.util.find_spec("deepxde") is not None
needs_deepxde = pytest.mark.skipif(not HAS_DEEPXDE, reason="DeepXDE (the optional extra 'bench') is not installed")
QUICK = BenchEnv(dtype=torch.float64, quick=True)


def test_work_counter_counts_a_matmul_and_elementwise_entries():
    a, b = torch.randn(5, 3), torch.randn(3, 4)
    with pinn_cost.WorkCounter() as counter:
        (a @ b).tanh().t()
    assert (counter.flops, counter.matmuls, counter.ops, counter.entries) == (2 * 5 * 3 * 4, 1, 2, 20)


def test_count_rows_every_contender_and_equal_algorithms_count_equal_work():
    rows = pinn_cost.count("burgers", QUICK, rounds=1)
    by = {r["contender"]: r for r in rows}
    expected = {"hodphys", "hand-written autograd", "analytic-forward", "multicomplex", "jet"}
    assert expected <= set(by)
    assert all(r["mflop"] > 0 and r["ops"] > 0 and r["ms"] > 0 for r in rows)
    if HAS_DEEPXDE:  # DeepXDE's operators are batched reverse mode, as the hand-written residual
        assert by["DeepXDE"]["mflop"] == by["hand-written autograd"]["mflop"]
    assert "| burgers | hodphys |" in pinn_cost.table(rows)


def test_study_config_overrides_and_their_errors():
    module, config = pinn_accuracy._config("heat", ["adam_steps=7", "activation=tanh"])
    assert (config.adam_steps, config.activation, config.threads, config.plots) == (7, "tanh", 1, False)
    with pytest.raises(ValueError, match="expected key=value"):
        pinn_accuracy._config("heat", ["adam_steps"])


def test_table_reports_the_error_ratio():
    rows = [{"problem": "heat", "framework": "hodphys", "rel_l2_mean": 1e-3, "cpu_s": 2.0},
            {"problem": "heat", "framework": "DeepXDE", "rel_l2_mean": 3e-3, "cpu_s": 4.0, "coefficient_k": 0.5}]
    lines = pinn_accuracy.table(rows).splitlines()
    assert lines[2].startswith("| heat | hodphys | 1.00e-03 |") and lines[3].endswith("| 3.00 |")
    assert "k = 0.5" in lines[3]


@needs_deepxde
def test_translated_residual_equals_the_problems_own():
    from hodphys.bench.references import deepxde_pinn

    for name in ("burgers", "kovasznay", "diffusion-inverse"):
        problem, model, batch = pinn_suite.suite_problem(name, QUICK)
        x = batch["interior"].detach().requires_grad_(True)
        coefficients = dict(getattr(model, "coefficients", {}))
        net = problem.network(model)
        ours = problem.pde(problem.fields(model, x))
        theirs = deepxde_pinn.pde(problem, coefficients)(x, net(x))
        assert torch.allclose(theirs, ours, rtol=1e-10, atol=1e-12), name


@needs_deepxde
def test_a_tiny_deepxde_run_is_scored_by_the_problems_metric():
    overrides = ["adam_steps=3", "optimizer_steps=2", "n_interior=32", "n_boundary=8", "widths=[6, 6]",
                 "finetune_points=0", "grid_size=11"]
    row = pinn_accuracy.run_deepxde("heat", overrides)
    assert 0 < row["rel_l2_mean"] < 10 and row["cpu_s"] > 0


@needs_deepxde
@pytest.mark.parametrize("geometry, conditions, match", [
    (Disk([0, 0], 1.0), [Dirichlet(0.0)], "geometry Ball"),
    (Box([0, 0], [1, 1]), [Periodic(0)], "condition Periodic"),
    (SpaceTime(Interval(0, 1), 0, 1), [Dirichlet(0.0, on="final")], "boundary part 'final'"),
])
def test_untranslatable_problems_are_named(geometry, conditions, match):
    from hodphys.bench.references import deepxde_pinn

    problem = Problem(PinnConfig(adam_steps=1, optimizer_steps=0), geometry, pde=lambda f: f["lap(u)"],
                      needs=["lap(u)"], conditions=conditions)
    with pytest.raises(ValueError, match=match):
        deepxde_pinn.train(problem)


@needs_deepxde
def test_conditions_translate_one_per_component_with_the_weight_split():
    from hodphys.bench.references import deepxde_pinn

    problem, _, _ = pinn_suite.suite_problem("kovasznay", QUICK)
    bcs, weights = deepxde_pinn.conditions(problem, deepxde_pinn.geometry(problem.geometry))
    assert [bc.component for bc in bcs] == [0, 1, 2] and weights == [0.5, 0.5, 1.0]
    outflow = deepxde_pinn._on_part(problem, "right")
    assert outflow(torch.tensor([1.0, 0.3]).numpy(), True) and not outflow(torch.tensor([-0.5, 0.3]).numpy(), True)


@needs_deepxde
def test_polygon_boundary_points_come_in_deepxdes_dtype():
    from hodphys.bench.references import deepxde_pinn
    from hodphys.pinn.geometry import Polygon

    dde = deepxde_pinn._dde()
    default = torch.get_default_dtype()
    try:
        dde.config.set_default_float("float32")
        geom = deepxde_pinn.geometry(Polygon([(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)]))
        assert geom.random_boundary_points(7).dtype.name == "float32"
        assert geom.uniform_boundary_points(7).dtype.name == "float32"
    finally:
        torch.set_default_dtype(default)
