import numpy as np
import pytest

from hodphys.fem import (
    ImplicitEuler,
    NewtonOptions,
    SimulationError,
    StepHalvingWarning,
    simulate,
)
from tests.fem.beams import make_beam


@pytest.fixture
def beam():
    return make_beam((12, 2, 2))


def test_a_failing_step_is_retried_with_half_the_step(beam):
    load = beam.tip_force([0.0, 0.0, -400.0])
    # three Newton iterations are too few for this sudden load at dt = 0.01, enough at 0.0025
    impatient = ImplicitEuler(beam.body, lambda t: load, NewtonOptions(max_iterations=3))
    with pytest.warns(StepHalvingWarning,
                      match=r"implicit-euler: Newton failed at t = 0 with dt = 0.0(1|05) .*retrying with dt = 0.00"):
        trajectory = simulate(impatient, impatient.initial_state(), dt=0.01, n_steps=1, max_halvings=2)
    # 0.01 failed, its first half failed and was done as two quarters, its second half passed
    assert trajectory.substeps == [3]
    assert trajectory.times[-1] == pytest.approx(0.01)
    patient = ImplicitEuler(beam.body, lambda t: load)
    state = patient.initial_state()
    for dt in (0.0025, 0.0025, 0.005):
        state, _ = patient.step(state, dt)
    np.testing.assert_allclose(trajectory.displacements[-1], state.displacement, rtol=1e-6,
                               atol=1e-9)


def test_giving_up_saves_the_trajectory_so_far(beam, tmp_path):
    load = beam.tip_force([0.0, 0.0, -400.0])
    # no force until t = 0.025 (steps need no iteration), then Newton gets no iteration at all
    integrator = ImplicitEuler(beam.body, lambda t: load if t > 0.025 else 0 * load,
                               NewtonOptions(max_iterations=0))
    saved = {}

    def save(trajectory):
        saved["times"] = list(trajectory.times)
        return tmp_path / "partial.h5"

    with pytest.warns(StepHalvingWarning), pytest.raises(
            SimulationError, match=r"step 3 from t = 0.02 failed even with dt = 0.0025 after 2 "
                                   r"halvings .*the trajectory so far is saved in .*partial.h5") as failure:
        simulate(integrator, integrator.initial_state(), dt=0.01, n_steps=5, max_halvings=2,
                 save_partial=save)
    np.testing.assert_allclose(saved["times"], [0.0, 0.01, 0.02])
    assert len(failure.value.trajectory.times) == 3


def test_simulate_argument_errors(beam):
    integrator = ImplicitEuler(beam.body, lambda t: np.zeros(beam.body.n_free))
    with pytest.raises(ValueError, match="simulate: expected a finite dt > 0, got dt=0.0"):
        simulate(integrator, integrator.initial_state(), dt=0.0, n_steps=3)
    with pytest.raises(ValueError, match="simulate: expected n_steps to be an integer ≥ 1, got 0"):
        simulate(integrator, integrator.initial_state(), dt=0.01, n_steps=0)
