"""The torch cubature kernels and the fused (compiled) Euler–Lagrange iteration against the NumPy path."""
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from hodphys.fem import Cantilever, NeoHookean, NewtonFailure, NewtonOptions, State, StVenantKirchhoff, box_tet_mesh
from hodphys.fem.material import Material
from hodphys.rom import Cubature, Decoder, EulerLagrangeEuler, ReducedModel
from hodphys.rom.compiled_newton import FusedEulerLagrange
from hodphys.rom.element_kernels import TorchCubature
from hodphys.rom.integrators import EulerLagrangeSystem
from tests.fem.beams import DENSITY, LENGTH, POISSON, SIDE, YOUNG
from tests.rom.conftest import tap


def every_third_tet(beam, basis) -> Cubature:
    elements = np.arange(0, beam.mesh.n_cells, 3)
    weights = np.linspace(2.0, 4.0, elements.size)
    return Cubature(beam.body, basis, elements, weights, 0.0)


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("material", [NeoHookean, StVenantKirchhoff])
def test_torch_cubature_equals_the_numpy_element_kernels(material, neural_decoder, snapshots):
    mesh = box_tet_mesh((LENGTH, SIDE, SIDE), (6, 2, 2))
    beam = Cantilever.build(mesh, material.from_young_poisson(YOUNG, POISSON), DENSITY)
    forces = every_third_tet(beam, neural_decoder.basis).forces()
    kernels = TorchCubature(forces)
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(neural_decoder.prefix_size, 3))
    for z in neural_decoder.basis.coordinates(snapshots[[5, 17, 33]]):
        force, stiffness = forces.force(z), forces.stiffness_product(z, directions)
        z_t, d_t = torch.from_numpy(z), torch.from_numpy(directions)
        assert relative(kernels.force(z_t).numpy(), force) <= 1e-12
        unit = np.eye(neural_decoder.prefix_size)                 # Γ = I: the whole K(z)
        _, torch_stiffness = kernels.force_and_projected_stiffness(z_t, torch.from_numpy(unit))
        assert relative(torch_stiffness.numpy(), forces.stiffness_product(z, unit)) <= 1e-12
        projected_force, projected = kernels.force_and_projected_stiffness(z_t, d_t)
        assert relative(projected_force.numpy(), force) <= 1e-12
        assert relative(projected.numpy(), directions.T @ stiffness) <= 1e-12
        prefixed = np.concatenate([np.eye(3), directions[3:]])           # Γ = [I; Γ_k], as the decoder's G
        _, leading = kernels.force_and_projected_stiffness(z_t, torch.from_numpy(prefixed), leading_identity=True)
        assert relative(leading.numpy(), prefixed.T @ forces.stiffness_product(z, prefixed)) <= 1e-12


@dataclass(frozen=True)
class Foam(Material):
    """A material the torch kernels do not know."""


def test_torch_cubature_refuses_a_material_without_a_torch_law(neural_decoder):
    beam = Cantilever.build(box_tet_mesh((LENGTH, SIDE, SIDE), (6, 2, 2)),
                            NeoHookean.from_young_poisson(YOUNG, POISSON), DENSITY)
    forces = every_third_tet(beam, neural_decoder.basis).forces()
    forces.body.material = Foam(1.0, 1.0)
    with pytest.raises(ValueError, match="no torch law for the material Foam"):
        TorchCubature(forces)


@pytest.fixture(scope="module")
def model(beam, neural_decoder):
    return ReducedModel.build(beam.body, neural_decoder, tap(beam), every_third_tet(beam, neural_decoder.basis))


def a_state(neural_decoder, snapshots) -> State:
    """The latent state of snapshot 12, with implicit-Euler velocity and acceleration."""
    q10, q11, q12 = neural_decoder.encode(snapshots[10:13])
    v = (q12 - q11) / 0.01
    return State(0.12, q12, v, (v - (q11 - q10) / 0.01) / 0.01)


@pytest.mark.parametrize("third_order", [True, False])
def test_fused_terms_equal_the_numpy_system(model, neural_decoder, snapshots, third_order):
    state = a_state(neural_decoder, snapshots)
    fused = FusedEulerLagrange(model, third_order, compile=False)
    reference = EulerLagrangeSystem(model, state, 0.01, third_order)
    step = [torch.from_numpy(np.array(x, dtype=np.float64)) for x in
            (state.displacement, state.velocity, reference.external, 1 / 0.01)]
    for q in (state.displacement, state.displacement + 0.01 * state.velocity, neural_decoder.encode(snapshots[13])):
        residual, floor = reference.residual(q)
        jacobian = reference.jacobian(q)
        fused_residual, fused_floor = fused.residual_terms(torch.from_numpy(q), *step)
        same_residual, _, fused_jacobian = fused.jacobian_terms(torch.from_numpy(q), *step)
        assert relative(fused_residual.numpy(), residual) <= 1e-10
        assert relative(same_residual.numpy(), residual) <= 1e-10
        assert float(fused_floor) == pytest.approx(floor, rel=1e-10)
        assert relative(fused_jacobian.numpy(), jacobian) <= 1e-10


def test_the_third_order_term_comes_from_the_jet_or_from_a_directional_call(beam, neural_decoder, snapshots):
    """method="auto": ∇³h[v, v, ·] from the Hessian's jet (third_along); multicomplex has no such call
    and takes the directional rows ∇³h[v, v, e_i] — the same Jacobian either way."""
    state = a_state(neural_decoder, snapshots)
    cubature = every_third_tet(beam, neural_decoder.basis)
    jacobians = {}
    for method in ("auto", "multicomplex"):
        decoder = Decoder(neural_decoder.basis, neural_decoder.latent_dim, neural_decoder.network,
                          neural_decoder.normalisation, method)
        assert (decoder.plans().jet_third is None) == (method == "multicomplex")
        reduced = ReducedModel.build(beam.body, decoder, tap(beam), cubature)
        fused = FusedEulerLagrange(reduced, compile=False)
        step = [torch.from_numpy(np.array(x, dtype=np.float64)) for x in
                (state.displacement, state.velocity, reduced.load(state.time + 0.01), 100.0)]
        jacobians[method] = fused.jacobian_terms(torch.from_numpy(state.displacement), *step)[2].numpy()
    assert relative(jacobians["auto"], jacobians["multicomplex"]) <= 1e-10


def test_fused_iteration_refuses_a_linear_decoder_or_the_full_projection(beam, neural_decoder):
    pca = Decoder(neural_decoder.basis, neural_decoder.prefix_size)
    with pytest.raises(ValueError, match="a linear decoder needs no"):
        FusedEulerLagrange(ReducedModel.build(beam.body, pca, tap(beam), every_third_tet(beam, pca.basis)))
    with pytest.raises(ValueError, match="the forces are the full projection"):
        FusedEulerLagrange(ReducedModel.build(beam.body, neural_decoder, tap(beam)))


def test_compiled_steps_equal_eager_steps_and_converge_quadratically(beam, neural_decoder, snapshots):
    """Decoder(compile=True) with a cubature: each Newton point is one compiled call; same iterates."""
    compiled = Decoder(neural_decoder.basis, neural_decoder.latent_dim, neural_decoder.network,
                       neural_decoder.normalisation, compile=True)
    cubature = every_third_tet(beam, neural_decoder.basis)
    options = NewtonOptions(rtol=1e-12)
    fast = EulerLagrangeEuler(ReducedModel.build(beam.body, compiled, tap(beam), cubature), options)
    slow = EulerLagrangeEuler(ReducedModel.build(beam.body, neural_decoder, tap(beam), cubature), options)
    assert fast.iteration is not None and fast.compile_seconds > 0 and slow.iteration is None
    fast_state, slow_state = fast.initial_state(), slow.initial_state()
    for _ in range(8):
        fast_state, fast_result = fast.step(fast_state, 0.01)
        slow_state, slow_result = slow.step(slow_state, 0.01)
        assert fast_result.iterations == slow_result.iterations
    assert relative(fast_state.displacement, slow_state.displacement) <= 1e-10
    tight = EulerLagrangeEuler(fast.model, NewtonOptions(rtol=1e-15, max_iterations=12))
    tight.iteration = fast.iteration
    history = tight.step(fast_state, 0.01)[1].history
    assert len(history) >= 3
    r0, r1, r2 = history[-3:]
    assert np.log(r2 / r1) / np.log(r1 / r0) > 1.8


def test_fused_solve_reports_what_stops_it(model, neural_decoder, snapshots):
    """The fused Newton loop (uncompiled graphs) raises hodphys.fem's NewtonFailure as the NumPy loop does."""
    state = a_state(neural_decoder, snapshots)
    fused = FusedEulerLagrange(model, compile=False)
    step = tuple(torch.from_numpy(np.array(x, dtype=np.float64)) for x in
                 (state.displacement, state.velocity, model.load(state.time + 0.01), 1 / 0.01))
    start = state.displacement + 0.01 * state.velocity
    assert fused.solve(start, step, NewtonOptions(rtol=1e-12), 0.0).residual_norm < 1e-6
    with pytest.raises(NewtonFailure, match="still above the tolerance"):
        fused.solve(start, step, NewtonOptions(rtol=1e-12, max_iterations=1), 0.0)
    with pytest.raises(NewtonFailure, match="no decrease of the merit function after 0 halvings"):
        fused.solve(start, step, NewtonOptions(max_backtracks=0), 0.0)
    with pytest.raises(NewtonFailure, match="residual is not finite at iteration 0"):
        fused.solve(np.full_like(start, np.nan), step, NewtonOptions(), 0.0)
