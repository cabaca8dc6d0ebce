"""hp.plan: a checked, engine-resolved call repeated on new tensors gives exactly the public call."""
import pytest
import torch
import torch._inductor
from torch import nn
from torch.func import hessian as func_hessian, jacfwd, jacrev, vmap

import hodphys as hp
from tests.helpers import TOLERANCE, assert_close_rel, mlp

D, M = 3, 4
MODEL = mlp(D, [8, 8], M)
SQUARE = mlp(D, [8], D, seed=1)


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


X, X2 = randn(5, D), randn(5, D, seed=1)
V, V2, W, W2 = randn(D, seed=2), randn(5, D, seed=3), randn(5, M, seed=4), randn(M, seed=5)

CASES = [  # (model, quantity, planned arguments, the next call's tensors)
    (MODEL, "jacobian", {}, {}),
    (MODEL, "hessian", {}, {}),
    (MODEL, "laplacian", {}, {}),
    (MODEL, "hvp", {"v": V}, {"v": V * 2}),
    (MODEL, "directional", {"vs": [V, V2]}, {"vs": [3 * V, V2 + 1]}),
    (MODEL, "directional", {"vs": [V, V2, V]}, {"vs": [V + 1, V2, -V]}),
    (MODEL, "directional_grad", {"vs": [V, V2], "w": W}, {"vs": [V + 1, 2 * V2], "w": -W}),
    (SQUARE, "dim_derivative", {"k": 2}, {}),
    (SQUARE, "divergence", {}, {}),
    (MODEL, "derivatives", {"hessian": True}, {}),
]


@pytest.mark.parametrize("model,quantity,planned,given", CASES, ids=[c[1] for c in CASES])
def test_a_plan_returns_what_the_public_call_returns(model, quantity, planned, given):
    step = hp.plan(model, X, quantity, **planned)
    assert step.engine_name == hp.explain(model, X, quantity, **planned).chosen
    result = step(X2, **given)
    expected = getattr(hp, quantity)(model, X2, **(planned | given))
    for got, want in zip(*((r,) if isinstance(r, torch.Tensor) else r for r in (result, expected))):
        assert (got is None and want is None) or torch.equal(got, want)


def test_derivatives_and_third_order_rows_match_torch_func():
    x = randn(D, seed=6)
    out = hp.plan(MODEL, X, "derivatives", hessian=True)(X2)
    assert_close_rel(out.hessian, vmap(func_hessian(MODEL))(X2), TOLERANCE[torch.float64])
    assert_close_rel(out.jacobian, vmap(jacrev(MODEL))(X2), TOLERANCE[torch.float64])
    rows, v = x.expand(D, D), randn(D, seed=7)
    third = hp.plan(MODEL, rows, "directional", vs=[rows, rows, torch.eye(D, dtype=torch.float64)])
    got = third(rows, vs=[v.expand(D, D), v.expand(D, D), torch.eye(D, dtype=torch.float64)])  # (D, M)
    reference = jacfwd(jacfwd(jacrev(MODEL)))(x)                                            # (M, D, D, D)
    assert_close_rel(got, torch.einsum("mijk,i,j->km", reference, v, v), TOLERANCE[torch.float64])


def test_float32_and_batch_shapes_follow_the_public_call():
    model32 = mlp(D, [8], M, dtype=torch.float32)
    x = randn(2, 3, D, dtype=torch.float32)
    step = hp.plan(model32, x, "directional_grad", vs=[randn(D, dtype=torch.float32)],
                   w=randn(2, 3, M, dtype=torch.float32))
    v, w = randn(D, seed=8, dtype=torch.float32), randn(2, 3, M, seed=9, dtype=torch.float32)
    got = step(x * 0.5, vs=[v], w=w)
    assert got.shape == (2, 3, D)
    reference = vmap(lambda xi, wi: jacrev(lambda y: wi @ jacfwd(model32)(y) @ v)(xi))(
        (x * 0.5).reshape(-1, D), w.reshape(-1, M)).reshape(2, 3, D)
    assert_close_rel(got, reference, TOLERANCE[torch.float32])


def test_tensors_not_passed_are_the_planned_ones():
    step = hp.plan(MODEL, X, "directional_grad", vs=[V, V], w=W2)
    assert torch.equal(step(X2, w=3 * W2), hp.directional_grad(MODEL, X2, [V, V], 3 * W2))
    assert torch.equal(step(X2), hp.directional_grad(MODEL, X2, [V, V], W2))


def test_gradients_reach_the_parameters_as_through_the_public_call():
    model = mlp(D, [8], M, seed=3).requires_grad_(True)
    step = hp.plan(model, X, "laplacian")
    grads = [torch.autograd.grad(f().square().sum(), list(model.parameters()), allow_unused=True)
             for f in (lambda: step(X2), lambda: hp.laplacian(model, X2))]
    assert any(g is not None for g in grads[0])
    for mine, theirs in zip(*grads):
        assert (mine is None and theirs is None) or torch.equal(mine, theirs)


def test_a_changed_model_is_planned_again():
    model = mlp(D, [8], M, seed=4)
    step = hp.plan(model, X, "hessian")
    model[2] = nn.Linear(8, M).double()  # a new output layer: other rules, other parameters
    assert torch.equal(step(X2), hp.hessian(model, X2))
    model.float()
    with pytest.raises(TypeError, match="x is torch.float64 but the model's parameter '0.weight' is torch.float32"):
        step(X2)


def test_an_explicit_method_and_options_are_kept():
    step = hp.plan(MODEL, X, "hessian", method="multicomplex", h=2**-30)
    assert step.engine_name == "multicomplex" and "multicomplex" in repr(step)
    assert torch.equal(step(X2), hp.hessian(MODEL, X2, method="multicomplex", h=2**-30))


def test_other_shapes_dtypes_and_arguments_are_refused():
    step = hp.plan(MODEL, X, "directional", vs=[V, V])
    with pytest.raises(ValueError, match=r"planned for x of shape \(5, 3\), torch.float64 on cpu, got shape \(4, 3\)"):
        step(X[:4])
    with pytest.raises(ValueError, match=r"planned for x of .*got shape \(5, 3\), torch.float32"):
        step(X.float())
    with pytest.raises(ValueError, match=r"planned for vs\[1\] of shape \(3,\).*got shape \(5, 3\)"):
        step(X2, vs=[V, V2])
    with pytest.raises(ValueError, match="planned for x of .*got list"):
        step([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="planned for 2 directions vs, got 3"):
        step(X2, vs=[V, V, V])
    with pytest.raises(TypeError, match=r"a call takes x and \['vs'\]; got unknown \['w'\]"):
        step(X2, w=W)


def test_bad_plans_fail_as_the_public_call_does():
    with pytest.raises(ValueError, match="unknown quantity"):
        hp.plan(MODEL, X, "curl")
    with pytest.raises(TypeError, match=r"missing \['vs'\]"):
        hp.plan(MODEL, X, "directional")
    with pytest.raises(ValueError, match="needs as many outputs as inputs"):
        hp.plan(MODEL, X, "divergence")
    with pytest.raises(TypeError, match="need an explicit method"):
        hp.plan(MODEL, X, "hessian", h=1e-3)


COMPILED = [("derivatives", {"jacobian": True, "laplacian": False, "hessian": True}, {}),
            ("directional", {"vs": [V2, V2, V2]}, {"vs": [V2 + 1, -V2, 2 * V2]})]


@pytest.mark.parametrize("quantity,planned,given", COMPILED, ids=[c[0] for c in COMPILED])
def test_a_compiled_plan_returns_what_the_plan_returns(quantity, planned, given):
    frozen = mlp(D, [8, 8], M).requires_grad_(False)
    step = hp.plan(frozen, X, quantity, **planned)
    compiled = step.compile()
    result, reference = compiled(X2, **given), step(X2, **given)
    assert compiled.failure is None and compiled.compile_seconds > 0
    for got, expected in zip(result if quantity == "derivatives" else [result],
                             reference if quantity == "derivatives" else [reference]):
        assert (got is None) == (expected is None)
        if got is not None:
            assert_close_rel(got, expected, 1e-12)
    with pytest.raises(ValueError, match="planned for x of shape"):
        compiled(X2[:2], **given)


FLOAT32 = [  # rows of 1024–1792 × 128 × 128: the traced GEMMs take oneDNN (hodphys.engines.traced)
    (8, 16, 128, "jacobian", nn.ELU, "analytic-forward"), (6, 2, 256, "laplacian", nn.Tanh, "analytic-forward")]


@pytest.mark.parametrize("d,m,batch,quantity,activation,engine", FLOAT32, ids=[c[3] for c in FLOAT32])
def test_a_compiled_float32_plan_equals_eager_and_torch_func(d, m, batch, quantity, activation, engine):
    model = mlp(d, [128, 128], m, activation, dtype=torch.float32).requires_grad_(False)
    x = randn(batch, d, dtype=torch.float32)
    step = hp.plan(model, x, quantity)
    compiled = step.compile()
    assert step.engine_name == engine
    x2 = randn(d, batch, seed=1, dtype=torch.float32).t()  # not contiguous: the compiled code wants it so
    got = compiled(x2)
    assert compiled.failure is None
    assert_close_rel(got, step(x2), 1e-5)
    reference = vmap(jacrev(model))(x2) if quantity == "jacobian" else vmap(func_hessian(model))(x2).diagonal(
        dim1=-2, dim2=-1).sum(-1)
    assert_close_rel(got, reference, TOLERANCE[torch.float32])


@pytest.mark.slow
def test_a_compiled_plan_with_the_cpp_wrapper_equals_eager():
    model = mlp(D, [16], M, nn.ELU).requires_grad_(False)
    step = hp.plan(model, X, "derivatives", hessian=True)
    compiled = step.compile(cpp_wrapper=True)
    got, expected = compiled(X2), step(X2)
    assert compiled.failure is None and compiled.cpp_wrapper
    for name in ("value", "jacobian", "hessian"):
        assert_close_rel(getattr(got, name), getattr(expected, name), 1e-12)


def test_a_compiled_plan_that_cannot_compile_runs_eagerly_and_says_why(monkeypatch, caplog):
    step = hp.plan(MODEL, X, "hessian")      # MODEL's parameters require grad: not compiled
    compiled = step.compile()
    with caplog.at_level("WARNING", logger="hodphys.plan"):
        result = compiled(X2)
        compiled(X2)
    assert_close_rel(result, step(X2), 1e-14)
    assert "require grad" in compiled.failure
    assert [r.message for r in caplog.records if "compiling failed" in r.message] == [
        f"{step.call}: compiling failed ({compiled.failure}); running it eagerly"]
    frozen = mlp(D, [8], M).requires_grad_(False)

    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")
    monkeypatch.setattr(torch._inductor, "compile", broken)
    fallback = hp.plan(frozen, X, "jacobian").compile()
    assert_close_rel(fallback(X2), hp.jacobian(frozen, X2), 1e-14)
    assert fallback.failure == "RuntimeError: no compiler here"


def test_a_compiled_batch_one_reverse_jacobian_matches_torch_func():
    """Its value sweep's GEMVs read W through t(W) and its adjoint sweep W itself (hodphys.engines.traced)."""
    frozen = mlp(10, [8, 8], 2).requires_grad_(False)
    compiled = hp.plan(frozen, randn(1, 10), "jacobian", method="analytic-backward").compile()
    x2 = randn(1, 10, seed=1)
    got = compiled(x2)
    assert compiled.failure is None
    assert_close_rel(got, vmap(jacrev(frozen))(x2), 1e-10)


@pytest.mark.parametrize("cpp_wrapper", [False, True])
def test_compile_traced_direct_entry_gives_the_wrapped_results(cpp_wrapper):
    """direct=True calls Inductor's own entry (one tensor or a list out, the unused input kept in
    its slot): the same values as the function, on inputs other than the traced ones."""
    from hodphys.plan import compile_traced
    torch.manual_seed(0)
    x, y = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    pair = compile_traced(lambda a, b: ((a * 2).sum(), b.cos() * a), [x, y], cpp_wrapper, direct=True)
    single = compile_traced(lambda a, b: (b * 3).exp(), [x, y], cpp_wrapper, direct=True)
    assert "_graph_entry" in pair.__qualname__ and "_graph_entry" in single.__qualname__
    u, w = x + 1.0, y - 2.0
    total, product = pair(u, w)
    assert torch.allclose(total, (u * 2).sum(), rtol=1e-14) and torch.allclose(product, w.cos() * u, rtol=1e-14)
    assert torch.allclose(single(u, w), (w * 3).exp(), rtol=1e-14)


def test_compile_traced_with_inlined_small_gemms_equals_eager_and_restores_inductor():
    """inline_gemm_rows: GEMMs of few rows compiled as multiply-sums give the same values (to
    round-off), and Inductor's module setting is what it was afterwards."""
    from torch._inductor.fx_passes import decompose_mem_bound_mm as decompose
    from hodphys.plan import compile_traced
    torch.manual_seed(1)
    w = torch.randn(30, 40, dtype=torch.float64)
    x, rows = torch.randn(3, 30, dtype=torch.float64), torch.randn(20, 30, dtype=torch.float64)
    before = decompose.cpu_max_first_dimension_decomposition
    f = compile_traced(lambda a, b: ((a @ w).tanh(), b @ w), [x, rows], cpp_wrapper=True, direct=True,
                       inline_gemm_rows=3)
    assert decompose.cpu_max_first_dimension_decomposition == before
    small, large = f(x + 0.5, rows - 0.5)
    assert_close_rel(small, ((x + 0.5) @ w).tanh(), 1e-13)
    assert_close_rel(large, (rows - 0.5) @ w, 1e-13)
