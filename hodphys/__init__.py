"""hodphys: fast, exact high-order derivatives of PyTorch networks for physics-informed solving.

    import hodphys as hp
    hp.laplacian(model, x)                  # (*B, m)
    hp.hessian(model, x, method="multicomplex")
    print(hp.explain(model, x, "hessian"))  # which engine "auto" picks, and why
    step = hp.plan(model, x, "hessian")     # checked and chosen once; step(x_new) repeats it cheaply
"""
from hodphys.engines import analytic, hollow, multicomplex  # the engine packages (importing registers all)
from hodphys import nn
from hodphys.api import (
    Derivatives,
    ValueAndDivergence,
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
from hodphys.partials import partials
from hodphys.plan import Plan, plan
from hodphys.engines.rules import register_rule

__version__ = "0.1.0"

__all__ = [
    "jacobian", "hessian", "laplacian", "hvp", "directional", "directional_grad",
    "dim_derivative", "divergence", "derivatives", "partials", "Derivatives", "ValueAndDivergence", "explain",
    "plan", "Plan",
    "ENGINES", "register_engine", "register_rule", "multicomplex", "analytic", "hollow", "nn",
]
