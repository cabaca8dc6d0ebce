"""HollowNet tools: the "hollow" engine, exact dimension-wise derivatives, hollowness checks, Jacobi–Newton.

    import hodphys as hp
    from hodphys.nn import HollowNet
    from hodphys.hollow import check_hollow, value_and_dim_derivatives, backward_euler_step

    net = HollowNet(64)
    hp.divergence(net, x)                        # method="auto" picks "hollow": one backward pass
    f, (df, d2f) = value_and_dim_derivatives(net, x, k=2)
    assert check_hollow(net).hollow
    y1 = backward_euler_step(net, y0, h=0.1).y   # Jacobi–Newton inside
"""
from hodphys.hollow.check import HollowReport, check_hollow
from hodphys.hollow.dimwise import DimDerivatives, value_and_dim_derivatives
from hodphys.hollow.engine import HollowEngine
from hodphys.hollow.newton import NewtonConvergenceError, NewtonReport, backward_euler_step, jacobi_newton

__all__ = ["check_hollow", "HollowReport", "value_and_dim_derivatives", "DimDerivatives",
           "HollowEngine", "jacobi_newton", "backward_euler_step", "NewtonReport",
           "NewtonConvergenceError"]
