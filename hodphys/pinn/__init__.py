"""Physics-informed neural networks: a PDE problem on a box, trained through :mod:`hodphys.train`.

    from hodphys.pinn import Problem
"""
from hodphys.pinn.problem import Batch, Problem, mlp

__all__ = ["Problem", "Batch", "mlp"]
