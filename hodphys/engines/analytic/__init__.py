"""Analytic (hessQuik-style) derivative engines: closed-form layer rules, forward and backward mode.

    hp.hessian(model, x, method="analytic-backward")
    hp.laplacian(model, x, method="analytic-forward")
    print(hp.explain(model, x, "laplacian"))   # both modes are ranked by cost

See :mod:`hodphys.engines.analytic.engine` for what each mode computes and how.
"""
from hodphys.engines.analytic.engine import AnalyticBackward, AnalyticForward
from hodphys.engines.analytic.rules import compile_model, register_rule

__all__ = ["AnalyticForward", "AnalyticBackward", "compile_model", "register_rule"]
