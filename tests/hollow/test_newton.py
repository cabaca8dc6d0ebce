"""Jacobi–Newton and backward Euler on stiff HollowNet dynamics, against full Newton."""
import pytest
import torch
from torch.func import jacrev

from hodphys.engines.hollow import (
    NewtonConvergenceError,
    backward_euler_step,
    jacobi_newton,
    value_and_dim_derivatives,
)

D, H = 8, 0.1
K = torch.linspace(50.0, 500.0, D, dtype=torch.float64)  # K·h from 5 to 50: stiff


def _stiff(net):
    """f(y) = −K ⊙ y + 5·net(y): stiffness on the diagonal, a HollowNet's coupling on top."""
    def f(t, y):
        value, (diagonal,) = value_and_dim_derivatives(net, y, 1)
        return -K * y + 5 * value, -K + 5 * diagonal
    return f, (lambda y: -K * y + 5 * net(y))


def _full_newton(f, target, scale, iterations=30):
    """Newton with the full Jacobian I − γ ∂f/∂y, per sample (samples are independent, so the
    Jacobian of Σ_n f(y_n) w.r.t. the batch holds every sample's d × d block)."""
    y = target.clone()
    jac = lambda v: jacrev(lambda w: f(w).sum(0))(v).permute(1, 0, 2)  # noqa: E731  (N, d, d)
    eye = torch.eye(target.shape[-1], dtype=target.dtype)
    for _ in range(iterations):
        g = y - target - scale * f(y)
        y = y - torch.linalg.solve(eye - scale * jac(y), g)
    return y


def test_stiff_backward_euler_step_converges_where_fixed_point_diverges(net_factory):
    net = net_factory(D, torch.float64, 0)
    stiff, f = _stiff(net)
    y_n = torch.randn(4, D, dtype=torch.float64)
    report = backward_euler_step(stiff, y_n, H, tol=1e-10, max_iter=10)
    assert report.converged and report.iterations <= 10 and report.residual < 1e-10
    with torch.no_grad():
        g = report.y - y_n - H * f(report.y)
        assert g.abs().max() < 1e-10
        assert torch.allclose(report.y, _full_newton(f, y_n, H), atol=1e-10, rtol=0)
        y, residuals = y_n.clone(), []
        for _ in range(10):  # plain fixed-point iteration y ← y_n + h f(y)
            y = y_n + H * f(y)
            residuals.append(float((y - y_n - H * f(y)).abs().max()))
    assert residuals[-1] > 1e6 * residuals[0]


def test_backward_euler_with_a_time_dependent_hollownet(net_factory):
    net = net_factory(5, torch.float64, 1, time=True, context_features=2)
    y_n, context = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    report = backward_euler_step(net, y_n, 0.5, t=1.0, context=context, tol=1e-12, max_iter=30)
    with torch.no_grad():
        f = lambda y: net(y, 1.5, context)  # noqa: E731  (evaluated at t + h)
        assert (report.y - y_n - 0.5 * f(report.y)).abs().max() <= 1e-12
        assert torch.allclose(report.y, _full_newton(f, y_n, 0.5), atol=1e-12, rtol=0)
    bound = backward_euler_step(net.bind(t=1.5, context=context), y_n, 0.5, tol=1e-12, max_iter=30)
    assert torch.equal(bound.y, report.y)


def test_jacobi_newton_solves_a_bdf2_equation(net_factory):
    net = net_factory(4, torch.float32, 2)
    y_prev, y_n = torch.randn(2, 4), torch.randn(2, 4)
    target, scale = (4 * y_n - y_prev) / 3, 2 * 0.2 / 3
    report = jacobi_newton(net.bind(), target, scale)  # float32: default tol 1e-5
    assert report.converged and report.tol == 1e-5
    with torch.no_grad():
        assert (report.y - target - scale * net(report.y)).abs().max() <= 1e-5


def _hollow_linear(strength):
    """f(y) = A y with A hollow: D_dim f = 0, so Jacobi–Newton is plain fixed-point iteration."""
    a = strength * (torch.ones(3, 3, dtype=torch.float64) - torch.eye(3, dtype=torch.float64))
    return lambda t, y: (y @ a.T, torch.zeros_like(y))


def test_no_convergence_is_reported_clearly():
    y = torch.ones(2, 3, dtype=torch.float64)
    with pytest.raises(NewtonConvergenceError, match=r"did NOT converge after 10 iteration.*diverged") as err:
        jacobi_newton(_hollow_linear(20.0), y, 0.1)
    assert not err.value.report.converged and len(err.value.report.residuals) == 11
    report = jacobi_newton(_hollow_linear(20.0), y, 0.1, raise_on_failure=False)
    assert not report.converged and report.iterations == 10
    assert report.residuals[-1] > report.residuals[0]
    with pytest.raises(NewtonConvergenceError, match="still decreasing: raise max_iter"):
        jacobi_newton(_hollow_linear(1.0), y, 0.1, max_iter=2)
    done = jacobi_newton(_hollow_linear(1.0), y, 0.1, max_iter=40)
    assert done.converged and "converged after" in str(done)


def test_a_stall_at_the_rounding_floor_is_named():
    k = K.float()
    coupled = lambda t, y: (-k * y + torch.sin(y.roll(1, -1)), -k)  # noqa: E731  (hollow coupling)
    with pytest.raises(NewtonConvergenceError, match=r"stalled near .* torch.float32 .* loosen tol"):
        backward_euler_step(coupled, 10 * torch.randn(4, D), H, tol=1e-12)
    assert backward_euler_step(coupled, 10 * torch.randn(4, D), H).converged  # default tol 1e-5


def test_bad_arguments():
    y = torch.ones(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="jacobi_newton: expected tol > 0"):
        jacobi_newton(_hollow_linear(1.0), y, 0.1, tol=0.0)
    with pytest.raises(ValueError, match="jacobi_newton: expected max_iter > 0"):
        jacobi_newton(_hollow_linear(1.0), y, 0.1, max_iter=0)
    with pytest.raises(ValueError, match="backward_euler_step: expected h > 0"):
        backward_euler_step(_hollow_linear(1.0), y, -0.1)
    with pytest.raises(TypeError, match="context is only for a HollowNet"):
        jacobi_newton(_hollow_linear(1.0), y, 0.1, context=y)
    with pytest.raises(TypeError, match="expected dynamics to be a HollowNet or a callable"):
        jacobi_newton("f", y, 0.1)


def test_jacobi_newton_names_slow_progress_and_wrong_shapes():
    a = 0.8 * (torch.ones(4, 4, dtype=torch.float64) - torch.eye(4, dtype=torch.float64)) / 3
    slow = lambda t, y: (-(y @ a.T) / 0.1, torch.zeros_like(y))  # noqa: E731
    with pytest.raises(NewtonConvergenceError, match="still decreasing: raise max_iter"):
        jacobi_newton(slow, torch.randn(3, 4, dtype=torch.float64), 0.1, max_iter=8)
    with pytest.raises(ValueError, match=r"dynamics' f of y's shape \(3, 4\), got \(3, 1\)"):
        jacobi_newton(lambda t, y: (y[..., :1], torch.zeros_like(y)), torch.randn(3, 4), 0.1)
    with pytest.raises(TypeError, match=r"expected the dynamics to return \(f, D_dim f\)"):
        jacobi_newton(lambda t, y: y, torch.randn(3, 4), 0.1)
