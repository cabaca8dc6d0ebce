"""Layer constructors refuse arguments that would break what the engines assume."""
import pytest
from torch import nn

import hodphys as hp
from hodphys.nn.residual import ResidualBlock


def test_icnn_refuses_a_concave_softplus():
    with pytest.raises(ValueError, match="must be convex"):
        hp.nn.ICNN(2, [8, 8], rank=1, activation=nn.Softplus(beta=-1.0))


def test_residual_block_refuses_a_bad_width_or_step():
    with pytest.raises(ValueError, match="expected width to be an integer ≥ 1"):
        ResidualBlock(0)
    with pytest.raises(ValueError, match="expected a finite step"):
        ResidualBlock(4, step=float("nan"))
