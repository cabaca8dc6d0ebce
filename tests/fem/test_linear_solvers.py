import numpy as np
import pytest
import scipy.sparse as sp

from hodphys.fem.linear_solvers import LINEAR_SOLVERS, make_linear_solver
from tests.fem.beams import make_beam


@pytest.fixture(scope="module")
def system():
    body = make_beam((8, 2, 2)).body
    matrix = body.stiffness(np.zeros(body.n_free))
    matrix.data += body.mass.data * 1e3
    return matrix, np.random.default_rng(1).standard_normal(body.n_free)


@pytest.mark.parametrize("name", sorted(LINEAR_SOLVERS))
def test_solvers_agree_with_a_dense_solve(name, system):
    matrix, rhs = system
    solver = make_linear_solver(name)
    exact = np.linalg.solve(matrix.toarray(), rhs)
    for shift in (0.0, 0.5):
        shifted = np.linalg.solve(matrix.toarray() + shift * np.diag(np.abs(matrix.diagonal())), rhs)
        np.testing.assert_allclose(solver.solve(matrix, rhs, shift), shifted, rtol=1e-9,
                                   atol=1e-12 * np.abs(exact).max())
    # a second call reuses the cached ordering of the same pattern
    np.testing.assert_allclose(solver.solve(matrix, rhs), exact, rtol=1e-9, atol=1e-12 * np.abs(exact).max())


@pytest.mark.parametrize("name, match", [("banded-cholesky", "not positive definite"),
                                         ("superlu", "SuperLU: the matrix is not positive definite")])
def test_solvers_reject_indefinite_matrices(name, match):
    matrix = sp.csr_matrix(np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(np.linalg.LinAlgError, match=match):
        make_linear_solver(name).solve(matrix, np.ones(2))
    # a large enough shift makes it definite
    np.testing.assert_allclose(make_linear_solver(name).solve(matrix, np.ones(2), 2.0),
                               np.linalg.solve([[3.0, 2.0], [2.0, 3.0]], np.ones(2)))


def test_superlu_reports_singular_matrices():
    matrix = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(np.linalg.LinAlgError, match="SuperLU"):
        make_linear_solver("superlu").solve(matrix, np.ones(2))


def test_unknown_linear_solver():
    with pytest.raises(ValueError,
                       match=r"unknown linear solver 'cg'; expected one of \['banded-cholesky', 'superlu'\]"):
        make_linear_solver("cg")
