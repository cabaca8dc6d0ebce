"""hodphys.metrics.relative_error on tensors, arrays and numbers."""
import math

import numpy as np
import pytest
import torch

from hodphys.metrics import relative_error


def test_relative_error_of_tensors():
    ref = torch.tensor([3.0, 4.0])
    assert relative_error(ref, ref) == 0.0
    assert relative_error(torch.tensor([3.0, 4.5]), ref) == pytest.approx(0.1)
    assert relative_error(torch.zeros(3), ref) == math.inf
    exact = torch.tensor([3.0, 4.0], dtype=torch.float64)
    assert relative_error(torch.tensor([3.0, 4.5], requires_grad=True), exact) == pytest.approx(0.1, rel=1e-15)


def test_relative_error_of_arrays_and_numbers():
    assert relative_error(np.array([[3.0, 4.5]]), np.array([[3.0, 4.0]])) == pytest.approx(0.1)
    assert relative_error(2.2, 2.0) == pytest.approx(0.1)
    assert relative_error(np.zeros(2), np.zeros(3)) == math.inf
    assert relative_error(1.0, 0.0) > 1e300
