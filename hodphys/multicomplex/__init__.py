"""Multicomplex (HoD-Net) differentiation: complex steps of any order in Cauchy–Riemann form."""
from hodphys.multicomplex.algebra import check_step, default_step
from hodphys.multicomplex.tensor import MulticomplexTensor
from hodphys.multicomplex.engine import MulticomplexEngine
from hodphys.multicomplex.rules import compile_model, register_rule

__all__ = ["MulticomplexTensor", "default_step", "check_step", "MulticomplexEngine",
           "compile_model", "register_rule"]
