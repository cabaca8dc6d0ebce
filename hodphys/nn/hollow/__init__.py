"""HollowNet: f_i(x) = τ_i(x_i, h_i) with a conditioner h_i = c_i(x_{-i}) that never reads x_i.

The net and its conditioners live here; :func:`check_hollow` measures whether a conditioner keeps
x_i out of h_i. The derivatives a HollowNet makes cheap (D_dim^k f, divergence) are the "hollow"
engine's (:mod:`hodphys.engines.hollow`, ``hp.dim_derivative``, ``hp.divergence``).
"""
from hodphys.nn.hollow.check import HollowReport, check_hollow
from hodphys.nn.hollow.conditioners import LeaveOneOutConditioner, MaskedConditioner
from hodphys.nn.hollow.net import BoundHollowNet, HollowNet

__all__ = ["HollowNet", "BoundHollowNet", "MaskedConditioner", "LeaveOneOutConditioner",
           "check_hollow", "HollowReport"]
