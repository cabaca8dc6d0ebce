"""The front door: shapes, method selection, explain, and every bad input's error."""
import pytest
import torch
from torch import nn

import hodphys as hp
from hodphys.engines import registry
from tests.helpers import assert_close_rel, mlp

MODEL = mlp(2, [6], 3)
X = torch.randn(4, 2, dtype=torch.float64)


def test_results_have_torch_func_shapes():
    x = torch.randn(5, 4, 2, dtype=torch.float64)
    assert hp.jacobian(MODEL, x).shape == (5, 4, 3, 2)
    assert hp.hessian(MODEL, x).shape == (5, 4, 3, 2, 2)
    assert hp.laplacian(MODEL, x).shape == (5, 4, 3)
    assert hp.hvp(MODEL, x, torch.ones(2, dtype=torch.float64)).shape == (5, 4, 3, 2)
    assert hp.directional(MODEL, x, [torch.ones(2, dtype=torch.float64)] * 3).shape == (5, 4, 3)
    single = torch.randn(2, dtype=torch.float64)
    assert hp.laplacian(MODEL, single).shape == (3,)
    assert hp.hessian(MODEL, single).shape == (3, 2, 2)


def test_auto_uses_an_exact_engine_where_it_can_and_autograd_otherwise():
    assert hp.explain(MODEL, X, "laplacian").chosen in ("multicomplex", "analytic-forward", "analytic-backward")
    with_dropout = nn.Sequential(nn.Linear(2, 4), nn.Dropout(0.0), nn.Tanh(), nn.Linear(4, 1)).double()
    choice = hp.explain(with_dropout, X, "laplacian")
    assert choice.chosen == "autograd"
    assert "Dropout" in choice.ruled_out["multicomplex"]
    assert "Dropout" in choice.ruled_out["analytic-forward"]
    assert_close_rel(hp.laplacian(with_dropout, X), hp.laplacian(with_dropout, X, method="autograd"), 0.0)


def test_explain_prints_every_engine():
    text = str(hp.explain(MODEL, X, "hessian"))
    assert "chosen method='" in text and "autograd" in text and "multiply-adds" in text
    assert "multicomplex" in text and "analytic-forward" in text and "analytic-backward" in text
    assert hp.explain(MODEL, X, "hvp", v=torch.ones(2, dtype=torch.float64)).quantity == "hvp"
    with pytest.raises(NotImplementedError, match="no engine can compute this.*needs m == d"):
        hp.explain(MODEL, X, "dim_derivative", k=2)


def test_wrong_last_dimension_names_both():
    with pytest.raises(ValueError, match=r"expected x\[\.\.\., 2\] \(the model's first layer has "
                                         r"in_features=2\), got x of shape \(4, 3\)"):
        hp.laplacian(MODEL, torch.randn(4, 3, dtype=torch.float64))


@pytest.mark.parametrize("bad", [torch.ones(4, 2, dtype=torch.int64), torch.ones(4, 2, dtype=torch.float16)])
def test_non_float_inputs_are_a_type_error(bad):
    with pytest.raises(TypeError, match="expected x of dtype float32 or float64"):
        hp.hessian(MODEL, bad)


def test_dtype_and_device_mismatches():
    with pytest.raises(TypeError, match="x is torch.float32 but the model's parameter '0.weight' is torch.float64"):
        hp.jacobian(MODEL, X.float())
    with pytest.raises(ValueError, match="on meta"):
        hp.jacobian(mlp(2, [3], 1).to("meta"), X)
    with pytest.raises(TypeError, match="expected x to be a torch.Tensor, got list"):
        hp.jacobian(MODEL, [[0.0, 1.0]])
    with pytest.raises(TypeError, match="expected model to be a torch.nn.Module"):
        hp.jacobian(lambda x: x, X)
    with pytest.raises(ValueError, match="got a 0-d tensor"):
        hp.laplacian(nn.Tanh(), torch.tensor(1.0, dtype=torch.float64))


def test_uncovered_module_names_it_and_points_to_autograd():
    class Custom(nn.Module):
        def forward(self, x):
            return x * x.sum(-1, keepdim=True)

    for module, name in [(nn.Dropout(0.1), "Dropout"), (Custom(), "Custom")]:
        model = nn.Sequential(nn.Linear(2, 2), module).double()
        message = rf"no multicomplex rule for {name}.*model\[1\].*method='autograd'"
        with pytest.raises(NotImplementedError, match=message):
            hp.hessian(model, X, method="multicomplex")


def test_sequential_subclass_with_its_own_forward_is_not_walked():
    class Doubled(nn.Sequential):
        def forward(self, x):
            return 2 * super().forward(x)

    model = Doubled(nn.Linear(2, 2)).double()
    with pytest.raises(NotImplementedError, match="no multicomplex rule for Doubled"):
        hp.jacobian(model, X, method="multicomplex")
    assert_close_rel(hp.jacobian(model, X), 2 * model[0].weight.expand(4, 2, 2), 1e-15)


def test_direction_shapes_are_checked():
    with pytest.raises(ValueError, match=r"expected v\[\.\.\., 2\].*got v of shape \(3,\)"):
        hp.hvp(MODEL, X, torch.ones(3, dtype=torch.float64))
    message = r"vs\[1\] of shape \(5, 2\) does not broadcast against the batch shape \(4,\)"
    with pytest.raises(ValueError, match=message):
        hp.directional(MODEL, X, [torch.ones(2, dtype=torch.float64), torch.ones(5, 2, dtype=torch.float64)])
    with pytest.raises(ValueError, match="expected vs to be a non-empty list"):
        hp.directional(MODEL, X, [])
    with pytest.raises(ValueError, match=r"non-empty list.*of shape \(2,\)"):
        hp.directional(MODEL, X, torch.ones(2, dtype=torch.float64))
    with pytest.raises(TypeError, match="v is torch.float32"):
        hp.hvp(MODEL, X, torch.ones(2))


def test_directional_grad_needs_w_for_vector_outputs():
    v = torch.ones(2, dtype=torch.float64)
    with pytest.raises(ValueError, match="the model has m=3 outputs; pass w"):
        hp.directional_grad(MODEL, X, [v])
    with pytest.raises(ValueError, match=r"expected w\[\.\.\., 3\]"):
        hp.directional_grad(MODEL, X, [v], torch.ones(2, dtype=torch.float64))
    scalar = mlp(2, [5], 1)
    assert_close_rel(hp.directional_grad(scalar, X, [v]), hp.hvp(scalar, X, v)[:, 0], 1e-12)


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_dim_derivative_order_must_be_a_positive_integer(k):
    with pytest.raises(ValueError, match="expected k to be an integer ≥ 1"):
        hp.dim_derivative(mlp(2, [3], 2), X, k)


def test_dim_derivative_and_divergence_need_square_models():
    with pytest.raises(ValueError, match="needs as many outputs as inputs, the model maps d=2 to m=3"):
        hp.dim_derivative(MODEL, X, 1)
    with pytest.raises(ValueError, match="needs as many outputs as inputs"):
        hp.divergence(MODEL, X)


def test_method_and_option_errors():
    with pytest.raises(ValueError, match="unknown method='jax'; expected 'auto' or one of"):
        hp.laplacian(MODEL, X, method="jax")
    with pytest.raises(TypeError, match=r"method='multicomplex' takes no option\(s\) \['step'\]; it accepts \['h'\]"):
        hp.laplacian(MODEL, X, method="multicomplex", step=0.1)
    with pytest.raises(TypeError, match=r"options \['h'\] need an explicit method"):
        hp.laplacian(MODEL, X, h=0.1)
    with pytest.raises(ValueError, match="underflows torch.float32"):
        hp.directional(MODEL.float(), X.float(), [torch.ones(2)] * 6, method="multicomplex", h=2.0 ** -12)
    MODEL.double()
    with pytest.raises(ValueError, match="unknown quantity"):
        hp.explain(MODEL, X, "curl")


def test_model_with_wrong_output_shape_is_reported_by_autograd():
    class Flat(nn.Module):
        in_features = 2

        def forward(self, x):
            return x.sum(-1)

    with pytest.raises(ValueError, match=r"expected the model to map x of shape \(\*B, d\) to \(\*B, m\)"):
        hp.jacobian(Flat(), X, method="autograd")


def test_no_engine_at_all_is_reported(monkeypatch):
    monkeypatch.setattr(registry, "ENGINES", {})
    with pytest.raises(NotImplementedError, match="no engine can compute this"):
        hp.laplacian(MODEL, X)


class _Wrap(torch.nn.Module):
    """A non-Sequential wrapper: its layers are not leaves of the model's structure."""

    def __init__(self, d: int, m: int):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(d, 8), torch.nn.Tanh(), torch.nn.Linear(8, m))

    def forward(self, x):
        return self.net(x)


def test_sizes_follow_a_layer_replaced_inside_a_wrapper_after_a_first_call():
    """d and m are read from the model on every call: replacing a layer nested in a wrapper module
    (not a leaf of any structure cache) changes what the next call expects."""
    model = torch.nn.Sequential(_Wrap(3, 2), torch.nn.Tanh()).double()
    assert hp.laplacian(model, torch.randn(4, 3, dtype=torch.float64), method="autograd").shape == (4, 2)
    model[0].net[0] = torch.nn.Linear(5, 8).double()
    model[0].net[2] = torch.nn.Linear(8, 4).double()
    x, v = torch.randn(4, 5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    assert hp.laplacian(model, x, method="autograd").shape == (4, 4)
    w = torch.ones(4, dtype=torch.float64)
    assert hp.directional_grad(model, x, [v], w, method="autograd").shape == (4, 5)
