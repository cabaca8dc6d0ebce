"""hodphys.scalars: cached 0-d constants, and the places where the plain number must be used."""
import torch

import hodphys as hp
from hodphys.scalars import scalar
from tests.helpers import assert_close_rel, mlp


def test_constant_is_cached_per_value_dtype_and_device():
    x32, x64 = torch.ones(3), torch.ones(3, dtype=torch.float64)
    c = scalar(0.5, x32)
    assert isinstance(c, torch.Tensor) and c.ndim == 0 and c.dtype == torch.float32 and c.item() == 0.5
    assert scalar(0.5, x32) is c
    assert scalar(0.5, x64) is not c and scalar(0.5, x64).dtype == torch.float64
    assert scalar(0.25, x32).item() == 0.25


def test_plain_number_inside_torch_func_transforms():
    seen = []

    def f(x):
        seen.append(scalar(0.5, x))
        return x * seen[-1]

    out = torch.func.vmap(f)(torch.arange(3.0).reshape(3, 1))
    assert seen == [0.5] and torch.equal(out, torch.arange(3.0).reshape(3, 1) / 2)
    torch.func.jvp(f, (torch.ones(2),), (torch.ones(2),))
    assert seen[-1] == 0.5


def test_constant_made_in_inference_mode_is_saved_for_backward_later():
    like = torch.ones(2, dtype=torch.float64)
    with torch.inference_mode():
        scalar(0.123, like)
    w = torch.ones(2, dtype=torch.float64, requires_grad=True)
    (w * scalar(0.123, like)).sum().backward()
    assert torch.allclose(w.grad, torch.full((2,), 0.123, dtype=torch.float64))


def test_engines_agree_inside_vmap_and_after_it():
    """The analytic and multicomplex engines give torch.func's Laplacian in and outside a transform."""
    torch.manual_seed(0)
    model = mlp(3, [16, 16], 2)
    x = torch.randn(4, 3, dtype=torch.float64)
    reference = hp.laplacian(model, x, method="autograd")
    for method in ("analytic-forward", "multicomplex"):
        inside = torch.func.vmap(lambda xi, method=method: hp.laplacian(model, xi, method=method))(x)
        assert_close_rel(inside, reference, 1e-10)
        assert_close_rel(hp.laplacian(model, x, method=method), reference, 1e-10)
