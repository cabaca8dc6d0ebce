from dataclasses import dataclass, field

import numpy as np
import pytest
import scipy.sparse as sp

from hodphys.fem.linear_solvers import LinearSolver, make_linear_solver
from hodphys.fem.newton import NewtonFailure, NewtonOptions, minimize


@dataclass
class DoubleWell:
    """Φ(x) = Σ x⁴/4 − x²/2 + b·x: minima near ±1, a concave region around 0."""

    tilt: np.ndarray
    energy_floor: float = 0.0
    force_floor: float = 0.0
    linear_solver: LinearSolver = field(default_factory=lambda: make_linear_solver("banded-cholesky"))

    def value(self, x):
        return float(np.sum(x**4 / 4 - x**2 / 2 + self.tilt * x))

    def gradient(self, x):
        return x**3 - x + self.tilt

    def hessian(self, x):
        return sp.diags(3 * x**2 - 1).tocsr()


@pytest.mark.parametrize("solver", ["banded-cholesky", "superlu"])
def test_newton_escapes_the_concave_region_and_converges(solver):
    objective = DoubleWell(tilt=np.array([0.1, -0.1, 0.0]),
                           linear_solver=make_linear_solver(solver))
    result = minimize(objective, np.array([0.05, -0.05, 0.2]), NewtonOptions(rtol=1e-12))
    assert result.shifts > 0                     # the Hessian was indefinite at the start
    np.testing.assert_allclose(objective.gradient(result.x), 0.0, atol=1e-12)
    assert np.all(3 * result.x**2 - 1 > 0)        # a minimum, not the local maximum
    assert result.iterations <= 12


def test_newton_gives_up_with_a_clear_error():
    objective = DoubleWell(tilt=np.array([0.1]))
    with pytest.raises(NewtonFailure, match="still above the tolerance .* after 1 iterations"):
        minimize(objective, np.array([3.0]), NewtonOptions(max_iterations=1))


def test_line_search_gives_up_on_an_energy_that_never_decreases():
    objective = DoubleWell(tilt=np.array([0.1]))
    objective.value = lambda x: np.inf if x[0] != 3.0 else 0.0
    with pytest.raises(NewtonFailure, match="line search: no decrease of the energy after 40 halvings"):
        minimize(objective, np.array([3.0]))


def test_starting_at_the_minimum_takes_no_iteration():
    objective = DoubleWell(tilt=np.zeros(2))
    result = minimize(objective, np.array([1.0, -1.0]))
    assert result.iterations == 0 and result.gradient_norm == 0.0
