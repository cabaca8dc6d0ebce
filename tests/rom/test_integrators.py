import numpy as np
import pytest
import torch
from torch import nn

from hodphys.fem import Cantilever, NeoHookean, NewtonOptions, SimulationError, StepHalvingWarning, State, simulate
from hodphys.rom import (
    Decoder,
    EulerLagrangeEuler,
    ReducedModel,
    VariationalEuler,
    full_mass_basis,
    mass_pca,
)
from hodphys.rom.integrators import EulerLagrangeSystem, VariationalSystem
from tests.fem.beams import make_beam
from tests.rom.conftest import TIGHT, full_order, tap

INTEGRATORS = [EulerLagrangeEuler, VariationalEuler]


def reduced_run(beam, decoder, load, integrator=EulerLagrangeEuler, n_steps=20, dt=0.01,
                options=TIGHT, **kwargs):
    model = ReducedModel.build(beam.body, decoder, load)
    stepper = integrator(model, options, **kwargs)
    trajectory = simulate(stepper, stepper.initial_state(), dt, n_steps)
    return decoder.decode(np.array(trajectory.displacements)), trajectory


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_full_basis_reproduces_full_order(beam, integrator):
    load = tap(beam)
    decoder = Decoder(full_mass_basis(beam.body.mass), beam.body.n_free)
    reduced, _ = reduced_run(beam, decoder, load, integrator)
    reference = full_order(beam, load)
    assert np.abs(reduced - reference).max() <= 1e-8 * np.abs(reference).max()


def galerkin_reference(beam, load, offset, V, n_steps=20, dt=0.01):
    """Implicit Euler projected on span V (n, r), solved by a plain dense Newton (no ROM code)."""
    body, mass = beam.body, beam.body.mass.toarray()
    q, v = np.zeros(V.shape[1]), np.zeros(V.shape[1])
    out = [offset + V @ q]
    for step in range(n_steps):
        force, start = load((step + 1) * dt), q.copy()
        for _ in range(50):
            u = offset + V @ q
            residual = V.T @ (mass @ V @ (q - start - dt * v) / dt**2 + body.internal_force(u) - force)
            if np.linalg.norm(residual) < 1e-13 * np.linalg.norm(V.T @ force):
                break
            jacobian = V.T @ (mass / dt**2 + body.stiffness(u).toarray()) @ V
            q = q - np.linalg.solve(jacobian, residual)
        v = (q - start) / dt
        out.append(offset + V @ q)
    return np.array(out)


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_linear_decoder_reproduces_pca_subspace_integration(beam, snapshots, integrator):
    """f(q) = u₀ + U_r q + U_k A q (a linear closure): the Galerkin projection on span(U_r + U_k A)."""
    basis = mass_pca(snapshots, beam.body.mass, 7)
    torch.manual_seed(3)
    closure = nn.Sequential(nn.Linear(3, 4, bias=False)).double()
    decoder = Decoder(basis, 3, closure)
    A = closure[0].weight.detach().numpy()
    V = basis.basis[:, :3] + basis.basis[:, 3:] @ A
    reduced, _ = reduced_run(beam, decoder, tap(beam), integrator)
    reference = galerkin_reference(beam, tap(beam), basis.offset, V)
    assert np.abs(reduced - reference).max() <= 1e-10 * np.abs(reference).max()


def moving_state(decoder, speed=10.0) -> State:
    """A state inside the closure's nonlinear range, moving fast (the third-order terms matter)."""
    return State(0.02, np.array([0.04, -0.03, 0.02]), speed * np.array([1.0, -1.2, 0.8]), np.zeros(3))


def no_load(beam):
    return lambda time: np.zeros(beam.body.n_free)


@pytest.mark.parametrize("system_type", [EulerLagrangeSystem, VariationalSystem])
def test_reduced_jacobian_equals_finite_differences(beam, neural_decoder, system_type):
    model = ReducedModel.build(beam.body, neural_decoder, tap(beam))
    extra = {"third_order": True} if system_type is EulerLagrangeSystem else {}
    system = system_type(model, moving_state(neural_decoder), 0.01, **extra)
    q = np.array([0.05, -0.02, 0.03])
    system.residual(q)
    jacobian = system.jacobian(q)
    step = 1e-6
    columns = []
    for j in range(3):
        e = np.zeros(3)
        e[j] = step
        columns.append((system.residual(q + e)[0] - system.residual(q - e)[0]) / (2 * step))
    finite = np.stack(columns, axis=1)
    assert np.abs(jacobian - finite).max() <= 1e-6 * np.abs(jacobian).max()


def convergence_order(history) -> float:
    """log(e_{k+1}/e_k) / log(e_k/e_{k−1}) over the last three residuals above the round-off floor
    100 · eps · e₀ (a residual at round-off says nothing about the order): 2 for quadratic."""
    e = np.asarray(history)
    e = e[e > 100 * np.finfo(float).eps * e[0]][-3:]
    return float(np.log(e[2] / e[1]) / np.log(e[1] / e[0]))


def test_euler_lagrange_newton_converges_quadratically(beam, neural_decoder):
    model = ReducedModel.build(beam.body, neural_decoder, no_load(beam))
    options = NewtonOptions(rtol=1e-14)
    _, exact = EulerLagrangeEuler(model, options).step(moving_state(neural_decoder), 0.01)
    _, dropped = EulerLagrangeEuler(model, options, third_order=False).step(moving_state(neural_decoder), 0.01)
    assert convergence_order(exact.history) > 1.8
    assert convergence_order(dropped.history) < 1.5
    assert exact.history[-1] < 0.1 * dropped.history[-1]
    assert np.allclose(dropped.x, exact.x, rtol=1e-8, atol=1e-12)


def test_dropping_third_order_terms_costs_iterations(beam, neural_decoder):
    """On a soft body inertia dominates the Jacobian, and the third-order terms save an iteration."""
    soft = Cantilever.build(beam.mesh, NeoHookean.from_young_poisson(1e3, 0.3), 1000.0)
    model = ReducedModel.build(soft.body, neural_decoder, no_load(soft))
    options = NewtonOptions(rtol=1e-12)
    _, exact = EulerLagrangeEuler(model, options).step(moving_state(neural_decoder, 3.0), 0.01)
    _, dropped = EulerLagrangeEuler(model, options, third_order=False).step(moving_state(neural_decoder, 3.0), 0.01)
    assert dropped.iterations > exact.iterations


def test_decoder_of_another_mesh_is_refused(neural_decoder):
    other = make_beam((5, 2, 2))
    with pytest.raises(ValueError, match=r"decoder's output size is 162, the body has \d+ free dofs"):
        ReducedModel.build(other.body, neural_decoder, tap(other))


def test_initial_state_latent_size_is_checked(beam, neural_decoder):
    stepper = EulerLagrangeEuler(ReducedModel.build(beam.body, neural_decoder, tap(beam)))
    with pytest.raises(ValueError, match=r"latent with last dimension 3"):
        stepper.initial_state(np.zeros(5))


def test_non_finite_load_is_refused(beam, neural_decoder):
    model = ReducedModel.build(beam.body, neural_decoder, lambda t: np.full(beam.body.n_free, np.nan))
    stepper = VariationalEuler(model)
    with pytest.raises(ValueError, match="non-finite entries"):
        stepper.step(moving_state(neural_decoder), 0.01)


def test_diverging_step_is_halved_then_reported(beam, neural_decoder):
    model = ReducedModel.build(beam.body, neural_decoder, tap(beam, (0, 4000.0, 0)))
    stepper = EulerLagrangeEuler(model, NewtonOptions(max_iterations=1, rtol=1e-12))
    with pytest.warns(StepHalvingWarning) as warned:
        with pytest.raises(SimulationError, match="after 2 halvings") as failure:
            simulate(stepper, stepper.initial_state(), 0.01, 5, max_halvings=2)
    messages = [str(w.message) for w in warned]
    assert any("retrying with dt = 0.005" in m for m in messages)
    assert any("retrying with dt = 0.0025" in m for m in messages)
    assert len(failure.value.trajectory.times) >= 1
