import numpy as np
import pytest

from hodphys.fem import modal_analysis
from tests.fem.beams import DENSITY, LENGTH, SECOND_MOMENT, SIDE, YOUNG, make_beam

# First bending root of the clamped–free Euler–Bernoulli beam: ω₁ = 1.8751² √(EI / (ρ A L⁴)).
CANTILEVER_ROOT = 1.8751040687


def test_modes_are_mass_orthonormal_and_satisfy_the_eigenproblem(small_beam):
    body = small_beam.body
    modes = modal_analysis(body, n_modes=4)
    shapes = modes.shapes
    np.testing.assert_allclose(shapes @ body.mass @ shapes.T, np.eye(4), atol=1e-10)
    stiffness = body.stiffness(np.zeros(body.n_free))
    residual = stiffness @ shapes.T - (body.mass @ shapes.T) * modes.angular_frequencies**2
    assert np.abs(residual).max() <= 1e-8 * np.abs(stiffness @ shapes.T).max()
    assert np.all(np.diff(modes.angular_frequencies) >= 0)
    np.testing.assert_allclose(modes.frequencies * modes.periods, 1.0)


def test_first_frequency_converges_towards_euler_bernoulli():
    exact = CANTILEVER_ROOT**2 * np.sqrt(YOUNG * SECOND_MOMENT / (DENSITY * SIDE**2 * LENGTH**4))
    ratios = [modal_analysis(make_beam((n, n // 10, n // 10), poisson=0.0).body, 1)
              .angular_frequencies[0] / exact for n in (10, 20, 40)]
    assert ratios[0] > ratios[1] > ratios[2] > 1.0       # locking: too stiff, from above
    assert ratios[2] < 1.1


def test_modal_argument_error(small_beam):
    with pytest.raises(ValueError, match=r"expected 1 ≤ n_modes < \d+ \(free dofs\), got 0"):
        modal_analysis(small_beam.body, n_modes=0)
