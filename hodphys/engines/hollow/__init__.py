"""The "hollow" engine: exact dimension-wise derivatives of a HollowNet, Jacobi–Newton; hollowness checks
(re-exported from :mod:`hodphys.nn.hollow`).

    import hodphys as hp
    from hodphys.nn import HollowNet
    from hodphys.engines.hollow import check_hollow, value_and_dim_derivatives, backward_euler_step

    net = HollowNet(64)
    hp.divergence(net, x)                        # method="auto" picks "hollow": one backward pass
    f, (df, d2f) = value_and_dim_derivatives(net, x, k=2)
    assert check_hollow(net).hollow
    y1 = backward_euler_step(net, y0, h=0.1).y   # Jacobi–Newton inside
"""
from hodphys.nn.hollow.check import HollowReport, check_hollow
from hodphys.engines.hollow.dim_derivatives import DimDerivatives, value_and_dim_derivatives
from hodphys.engines.hollow.engine import HollowEngine
from hodphys.engines.hollow.newton import NewtonConvergenceError, NewtonReport, backward_euler_step, jacobi_newton

__all__ = ["check_hollow", "HollowReport", "value_and_dim_derivatives", "DimDerivatives",
           "HollowEngine", "jacobi_newton", "backward_euler_step", "NewtonReport",
           "NewtonConvergenceError"]
