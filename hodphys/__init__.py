"""hodphys: fast, exact high-order derivatives of PyTorch networks for physics-informed solving.

    import hodphys as hp
    hp.laplacian(model, x)                  # (*B, m)
    hp.hessian(model, x, method="multicomplex")
    print(hp.explain(model, x, "hessian"))  # which engine "auto" picks, and why
"""
from hodphys import analytic  # noqa: F401  (registers "analytic-forward" and "analytic-backward")
from hodphys import autograd as _autograd  # noqa: F401  (registers the "autograd" engine)
from hodphys import multicomplex  # noqa: F401  (registers the "multicomplex" engine)
from hodphys import hollow  # noqa: F401  (registers the "hollow" engine)
from hodphys import nn
from hodphys.api import (
    Derivatives,
    derivatives,
    dim_derivative,
    directional,
    directional_grad,
    divergence,
    explain,
    hessian,
    hvp,
    jacobian,
    laplacian,
)
from hodphys.engines import ENGINES, register_engine

__version__ = "0.1.0"

__all__ = [
    "jacobian", "hessian", "laplacian", "hvp", "directional", "directional_grad",
    "dim_derivative", "divergence", "derivatives", "Derivatives", "explain",
    "ENGINES", "register_engine", "multicomplex", "analytic", "hollow", "nn",
]
