import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from hodphys.fem import Cantilever
from tests.fem.beams import make_beam


@pytest.fixture(autouse=True)
def _single_blas_thread():
    """LAPACK/BLAS threads fight each other on the 2 shared CI cores; one is faster."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def small_beam() -> Cantilever:
    return make_beam((6, 2, 2))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
