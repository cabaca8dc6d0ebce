"""Activation derivatives of order 1..5: the rules, and their multicomplex evaluation, vs torch.func."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import grad, vmap

import hodphys as hp
from hodphys import elementwise as ew
from hodphys.engines.multicomplex import MulticomplexTensor

# (ElementwiseFunction, torch function, sample points incl. saturation and both sides of branch
# points; exactly at a kink (ELU at 0, softplus at its threshold) torch's own first and second
# derivatives take different branches, so those points are not compared)
GRID = torch.linspace(-6.0, 6.0, 49, dtype=torch.float64) + 0.013
EXTREMES = torch.tensor([-20.0, -12.0, 12.0, 20.0], dtype=torch.float64)
CASES = [
    (ew.Tanh(), torch.tanh, torch.cat([GRID, EXTREMES])),
    (ew.Sigmoid(), torch.sigmoid, torch.cat([GRID, EXTREMES])),
    (ew.Softplus(), F.softplus, torch.cat([GRID, torch.tensor([19.5, 20.5, 25.0], dtype=torch.float64)])),
    (ew.Softplus(beta=2.0, threshold=10.0), lambda x: F.softplus(x, 2.0, 10.0),
     torch.cat([GRID, torch.tensor([4.9, 5.1, 7.0], dtype=torch.float64)])),
    (ew.Exp(), torch.exp, GRID),
    (ew.Log(), torch.log, torch.linspace(0.2, 6.0, 30, dtype=torch.float64)),
    (ew.Sin(), torch.sin, GRID),
    (ew.Cos(), torch.cos, GRID),
    (ew.ELU(alpha=0.7), lambda x: F.elu(x, 0.7), torch.cat([GRID, torch.tensor([-1e-3, 1e-3], dtype=torch.float64)])),
    (ew.ELU(), F.elu, torch.cat([GRID, torch.tensor([-1e-3, 1e-3], dtype=torch.float64)])),
    (ew.SiLU(), F.silu, torch.cat([GRID, EXTREMES])),
    (ew.Identity(), lambda x: x, GRID),
]
IDS = [f"{fn.name}{i}" for i, (fn, _, _) in enumerate(CASES)]


def nested_torch_func(f, n: int):
    g = f
    for _ in range(n):
        g = grad(g)
    return vmap(g)


@pytest.mark.parametrize("fn,torch_fn,x", CASES, ids=IDS)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_rule_derivatives_match_nested_torch_func(fn, torch_fn, x, dtype, tol):
    x = x.to(dtype)
    ours = fn.derivatives(x, 5)
    assert len(ours) == 6
    for n in range(6):
        ref = nested_torch_func(torch_fn, n)(x) if n else torch_fn(x)
        scale = max(ref.abs().max().item(), 1.0)
        err = (ours[n] - ref).abs().max().item() / scale
        assert err <= tol, f"{fn.name} order {n}: {err:.3g}"


@pytest.mark.parametrize("fn,torch_fn,x", CASES, ids=IDS)
@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_multicomplex_top_component_is_the_nth_derivative(fn, torch_fn, x, order):
    z = MulticomplexTensor.perturb(x, [torch.ones_like(x)] * order, h=0.0)
    ref = nested_torch_func(torch_fn, order)(x)
    scale = max(ref.abs().max().item(), 1.0)
    assert (z.apply(fn).part(*range(1, order + 1)) - ref).abs().max().item() / scale <= 1e-12


def test_finite_step_converges_like_h_squared():
    # one truncated series is exact in its top component; a composition carries O(h²) terms
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    exact = nested_torch_func(lambda t: torch.sin(torch.tanh(t)), 3)(x)
    errors = []
    for h in (2.0 ** -4, 2.0 ** -5, 2.0 ** -6):
        z = MulticomplexTensor.perturb(x, [torch.ones_like(x)] * 3, h=h)
        errors.append((z.apply(ew.Tanh()).apply(ew.Sin()).part(1, 2, 3) - exact).abs().max().item())
    for coarse, fine in zip(errors, errors[1:]):
        assert 3.5 < coarse / fine < 4.5


def test_modules_map_to_functions():
    assert ew.elementwise_of(nn.Softplus(beta=3.0, threshold=5.0)) == ew.Softplus(3.0, 5.0)
    assert ew.elementwise_of(nn.ELU(alpha=0.2)) == ew.ELU(0.2)
    assert isinstance(ew.elementwise_of(hp.nn.Sin()), ew.Sin)
    assert ew.elementwise_of(nn.Linear(2, 2)) is None
    x = torch.randn(4, dtype=torch.float64)
    assert torch.equal(hp.nn.Sin()(x), torch.sin(x))


def test_register_elementwise_teaches_every_engine():
    class Cube(nn.Module):
        def forward(self, x):
            return x ** 3

    class CubeFunction(ew.ElementwiseFunction):
        name = "cube"

        def derivatives(self, x, n):
            terms = [x ** 3, 3 * x ** 2, 6 * x, torch.full_like(x, 6.0)]
            return (terms + [torch.zeros_like(x)] * n)[: n + 1]

    ew.register_elementwise(Cube, lambda m: CubeFunction())
    model = nn.Sequential(nn.Linear(3, 4), Cube(), nn.Linear(4, 2)).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    ours = hp.laplacian(model, x, method="multicomplex")
    ref = hp.laplacian(model, x, method="autograd")
    assert (ours - ref).abs().max() <= 1e-12 * ref.abs().max()


@pytest.mark.parametrize("fn,torch_fn,x", CASES, ids=IDS)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-14), (torch.float32, 1e-6)])
@pytest.mark.parametrize("n_rows", [(), (3,)], ids=["one-copy", "broadcast-rows"])  # fused kernel / σ′ once
def test_chain_is_value_and_first_derivative_times_rows(fn, torch_fn, x, dtype, tol, n_rows):
    x = x.to(dtype)
    rows = torch.randn(*n_rows, *x.shape, dtype=dtype, generator=torch.Generator().manual_seed(0))
    f = fn.derivatives(x, 1)
    value, product = fn.chain(x, rows)
    torch.testing.assert_close(value, f[0], rtol=tol, atol=tol)
    torch.testing.assert_close(product, f[1] * rows, rtol=tol, atol=tol)
    out = rows.clone()
    _, written = fn.chain(x, out, out=out)  # in place: σ′·rows over the rows themselves
    assert written.data_ptr() == out.data_ptr()
    torch.testing.assert_close(out, f[1] * rows, rtol=tol, atol=tol)


def _ulps(a, b):
    """|a − b| in units of the float32 spacing at |b|."""
    spacing = torch.nextafter(b.abs(), torch.tensor(float("inf"))) - b.abs()
    return ((a.double() - b.double()).abs() / spacing.double()).max().item()


def test_fast_float32_tanh_is_within_2_ulp_of_torch_and_of_the_exact_value():
    x = torch.cat([torch.linspace(-12, 12, 200_001), torch.logspace(-38, 1.3, 40_000),
                   -torch.logspace(-38, 1.3, 40_000), torch.tensor([0.0, -0.0])])
    assert x.numel() >= ew.FAST_TANH_MIN
    fast = ew.tanh(x)
    assert _ulps(fast, torch.tanh(x)) <= 2
    assert _ulps(fast, torch.tanh(x.double()).float()) <= 2
    assert torch.equal(torch.signbit(fast), torch.signbit(x)) and fast.abs().max() == 1.0


def test_tanh_keeps_torch_where_autograd_or_transforms_see_it():
    x = torch.linspace(-3, 3, ew.FAST_TANH_MIN, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(ew.tanh(x).sum(), x)  # float64 and a graph: torch.tanh
    torch.testing.assert_close(g, 1 - torch.tanh(x.detach()) ** 2)
    x32 = x.detach().float().requires_grad_()
    assert ew.tanh(x32).grad_fn is not None
    batched = vmap(ew.tanh)(x32.detach().reshape(4, -1))
    assert torch.equal(batched, torch.tanh(x32.detach().reshape(4, -1)))
    small = torch.linspace(-3, 3, 10)
    assert torch.equal(ew.tanh(small), torch.tanh(small))


def test_fold_under_compile_sets_what_torch_compilers_decorator_sets():
    """hodphys marks its constant-result helpers without importing torch._dynamo; the mark must be
    the one torch.compiler.assume_constant_result sets, or torch.compile would stop folding them."""
    import torch

    from hodphys.elementwise import fold_under_compile

    def ours():
        return 1

    def theirs():
        return 1

    torch.compiler.assume_constant_result(theirs)
    fold_under_compile(ours)
    marks = {k: v for k, v in vars(theirs).items() if k.startswith("_dynamo")}
    assert marks and marks == {k: v for k, v in vars(ours).items() if k.startswith("_dynamo")}


def test_import_hodphys_does_not_import_dynamo():
    import subprocess
    import sys

    code = "import sys, hodphys.app.cli; print('torch._dynamo' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
