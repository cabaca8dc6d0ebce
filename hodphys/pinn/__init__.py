"""Physics-informed neural networks: a problem composed of a geometry, a PDE residual and conditions,
trained through :mod:`hodphys.train`.

    from hodphys.pinn import Problem, PinnConfig, Dirichlet, Neumann, Initial
    from hodphys.pinn.geometry import Box, Polygon, SpaceTime, Interval

Modules: :mod:`.geometry` (domains, sampling, normals, parts), :mod:`.conditions` (loss terms),
:mod:`.problem` (the composition, loss), :mod:`.model` (MLP, coefficients), :mod:`.evaluation`
(metrics), :mod:`.outputs` (plots, VTU), :mod:`.config` (PINN knobs).
"""
from hodphys.pinn.conditions import Condition, Dirichlet, Initial, Neumann, Observations, Periodic, Robin
from hodphys.pinn.config import PinnConfig
from hodphys.pinn.model import PinnModel, mlp
from hodphys.pinn.problem import Batch, Problem

__all__ = ["Problem", "Batch", "mlp", "PinnConfig", "PinnModel", "Condition", "Dirichlet", "Neumann", "Robin",
           "Periodic", "Initial", "Observations"]
