"""Multicomplex (HoD-Net) differentiation: complex steps of any order in Cauchy–Riemann form."""
from hodphys.engines.multicomplex.algebra import check_step, default_step
from hodphys.engines.multicomplex.tensor import MulticomplexTensor
from hodphys.engines.multicomplex.engine import MulticomplexEngine
from hodphys.engines.multicomplex.rules import compile_model, register_rule

__all__ = ["MulticomplexTensor", "default_step", "check_step", "MulticomplexEngine",
           "compile_model", "register_rule"]
