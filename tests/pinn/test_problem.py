"""The Problem base: sampling, loss terms, metrics, model building and outputs."""
import json
import math
from dataclasses import dataclass

import meshio
import pytest
import torch

from hodphys.pinn.problem import Problem, mlp
from hodphys.io.runs import Run
from hodphys.train import TrainConfig


@dataclass
class Config(TrainConfig):
    widths: list[int] = None

    def __post_init__(self):
        self.widths = self.widths or [8, 8]


class Wave(Problem):
    """Δu = −(π²/4 + π²) u on [0, 2] × [0, 1], u = sin(πx/2) sin(πy) (u = 0 on three faces)."""

    def exact(self, x):
        return (torch.sin(math.pi / 2 * x[:, :1]) * torch.sin(math.pi * x[:, 1:])).expand(-1, self.outputs)

    def residual(self, model, x):
        return self.laplacian(model, x) + (math.pi**2 / 4 + math.pi**2) * self.exact(x)


class ExactModel(torch.nn.Module):
    def __init__(self, problem):
        super().__init__()
        self.problem = problem

    def forward(self, x):
        return self.problem.exact(x)


def wave(**overrides):
    return Wave(Config(dtype="float64", **overrides), bounds=[(0, 2), (0, 1)], outputs=2)


def test_points_lie_inside_and_on_the_boundary_with_area_weights():
    problem, generator = wave(), torch.Generator().manual_seed(0)
    inside = problem.sample_interior(1000, generator)
    edge = problem.sample_boundary(20000, generator)
    assert inside.shape == (1000, 2) and inside.dtype == torch.float64
    assert (inside[:, 0].min() >= 0) and inside[:, 0].max() <= 2 and inside[:, 0].max() > 1.9
    on_face = torch.stack([edge[:, 0] == 0, edge[:, 0] == 2, edge[:, 1] == 0, edge[:, 1] == 1])
    assert (on_face.sum(0) >= 1).all()
    # faces x = 0 and x = 2 have length 1, faces y = 0 and y = 1 length 2: 1/6, 1/6, 1/3, 1/3
    fractions = on_face.double().mean(1)
    assert torch.allclose(fractions, torch.tensor([1 / 6, 1 / 6, 1 / 3, 1 / 3], dtype=torch.float64), atol=0.015)


def test_one_seed_gives_one_set_of_points():
    a = wave().sample(torch.Generator().manual_seed(3))
    b = wave().sample(torch.Generator().manual_seed(3))
    assert a.keys() == {"interior", "boundary", "boundary_values"}
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["interior"].shape == (2048, 2) and a["boundary_values"].shape == (512, 2)


def test_the_exact_solution_has_zero_loss_and_zero_error():
    problem = wave(n_interior=64, n_boundary=32)
    batch = problem.sample(torch.Generator().manual_seed(0))
    model = ExactModel(problem)
    problem.config.derivative_method = "autograd"  # the exact model is not an MLP
    loss, terms = problem.loss(model, batch)
    assert terms.keys() == {"pde", "boundary"} and float(loss) < 1e-20
    metrics = problem.metrics(model)
    assert metrics["rel_l2"] == [0.0, 0.0] and metrics["rel_l2_max"] == 0.0


def test_loss_weights_and_data_term():
    class WithData(Wave):
        def data(self):
            x = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
            return x, self.exact(x) + 1.0  # every output misses by exactly 1

    problem = WithData(Config(dtype="float64", boundary_weight=3.0, data_weight=2.0, n_interior=16, n_boundary=8),
                       bounds=[(0, 2), (0, 1)], outputs=2)
    problem.config.derivative_method = "autograd"
    batch = problem.sample(torch.Generator().manual_seed(0))
    loss, terms = problem.loss(ExactModel(problem), batch)
    assert float(terms["data"]) == pytest.approx(1.0) and float(loss) == pytest.approx(2.0)


def test_metrics_of_a_network_and_model_building():
    problem = wave(widths=[5], activation="sin", normalize_outputs=True)
    model = problem.build_model()
    assert isinstance(model[1], type(mlp(2, [5], 2, "sin")[1]))
    assert model[-1].weight.requires_grad is False and len(model) == 4
    # the frozen affine layer reproduces the boundary data's mean (u = 0 on three faces)
    assert 0 < float(model[-1].bias[0]) < 0.3
    metrics = problem.metrics(model)
    assert len(metrics["rel_l2"]) == 2 and metrics["rel_l2_mean"] > 0.1
    assert problem.evaluation_points().shape == (101 * 101, 2)


def test_evaluation_points_in_high_dimension_are_fixed():
    problem = Wave(Config(eval_points=100), bounds=[(0, 1)] * 4, outputs=1)
    assert torch.equal(problem.evaluation_points(), problem.evaluation_points())
    assert problem.evaluation_points().shape == (100, 4)
    x_grid, y_grid, plane = problem.plane(5)
    assert plane.shape == (25, 4) and (plane[:, 2:] == 0.5).all() and x_grid.shape == (5, 5)


def test_outputs_loss_curve_fields_and_vtu(tmp_path):
    problem = wave(grid_size=11)
    model = problem.build_model()
    run = Run.create("wave", problem.config, root=tmp_path)
    run.append_metrics(step=1, loss=1.0)
    run.append_metrics(step=2, loss=0.5)
    run.append_metrics(step=2, rel_l2_mean=0.3)
    written = problem.write_outputs(model, run, {"adam": [0, 2]})
    run.close()
    assert [p.name for p in written] == ["loss.png", "fields.png", "fields.vtu"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in written[:2])
    mesh = meshio.read(written[2])
    assert mesh.points.shape == (121, 3) and mesh.cells_dict["quad"].shape == (100, 4)
    x = torch.as_tensor(mesh.points[:, :2])
    assert torch.allclose(torch.as_tensor(mesh.point_data["u0_exact"]), problem.exact(x)[:, 0], atol=1e-12)
    with torch.no_grad():
        assert torch.allclose(torch.as_tensor(mesh.point_data["u1"]), model(x)[:, 1], atol=1e-12)
    assert json.loads((run.dir / "metrics.jsonl").read_text().splitlines()[0])["loss"] == 1.0


def test_bad_problems_are_clear_errors():
    with pytest.raises(ValueError, match=r"expected bounds \[\(a_1, b_1\), …\] with a_i < b_i"):
        Wave(Config(), bounds=[(1, 0)], outputs=1)
    with pytest.raises(ValueError, match="expected 2 output names"):
        Wave(Config(), bounds=[(0, 1)], outputs=2, names=["a"])
    with pytest.raises(ValueError, match="config key 'dtype': expected one of"):
        Wave(Config(dtype="float16"), bounds=[(0, 1)], outputs=1)
    bare = Problem(Config(), bounds=[(0, 1)], outputs=1)
    with pytest.raises(NotImplementedError, match="Problem must define residual"):
        bare.residual(None, torch.zeros(1, 1))
    with pytest.raises(NotImplementedError, match="has no exact solution: define boundary_values"):
        bare.sample(torch.Generator())
    assert bare.metrics(torch.nn.Linear(1, 1)) == {}


class _FlatExact(Wave):
    def exact(self, x):
        return super().exact(x)[:, 0]  # (N,) instead of (N, m)


def test_values_of_the_wrong_shape_are_named():
    problem = _FlatExact(Config(), bounds=[(0, 2), (0, 1)], outputs=1)
    with pytest.raises(ValueError, match=r"_FlatExact.boundary_values must return a tensor of shape \(N, m\)"):
        problem.sample(torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"_FlatExact.exact must return a tensor of shape \(N, m\)"):
        problem.metrics(problem.build_model())


def test_normalized_outputs_keep_scale_one_for_zero_boundary_data():
    class ZeroOnBoundary(Wave):
        def boundary_values(self, x):
            return torch.zeros(x.shape[0], self.outputs, dtype=x.dtype)

    model = ZeroOnBoundary(Config(normalize_outputs=True), bounds=[(0, 2), (0, 1)], outputs=2).build_model()
    affine = model[-1]
    assert torch.equal(affine.weight, torch.eye(2, dtype=affine.weight.dtype))
    assert torch.equal(affine.bias, torch.zeros(2, dtype=affine.bias.dtype))
    class Ramp(Wave):
        def boundary_values(self, x):
            return x[:, :1].expand(-1, self.outputs)

    ramp = Ramp(Config(normalize_outputs=True), bounds=[(0, 2), (0, 1)], outputs=1)
    values = ramp.boundary_values(ramp.sample_boundary(4096, torch.Generator().manual_seed(ramp.config.seed + 104729)))
    assert torch.allclose(ramp.build_model()[-1].weight.double(), values.double().std(0).diag(), rtol=1e-6)
