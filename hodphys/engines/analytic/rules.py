"""The analytic engine's rules: the shared layer rules of :mod:`hodphys.engines.rules`, run on a
:class:`~hodphys.engines.analytic.jet.Jet` forward and an :class:`~hodphys.engines.analytic.adjoint.Adjoint`
backward; ``shape`` feeds the analytic cost model.

Covered: ``nn.Linear``, every activation :func:`hodphys.elementwise.elementwise_of` knows, every
:class:`hodphys.nn.BranchBlock` (residual, ICNN, quadratic, quadratic-ICNN) and whatever
:func:`hodphys.register_rule` added, in plain (nested) ``nn.Sequential``.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from hodphys.engines.rules import LinearRule, Shape, compile_rules, register_rule

__all__ = ["LinearRule", "Shape", "compile_model", "register_rule"]


def compile_model(model: nn.Module, *, layers: tuple[nn.Module, ...] | None = None) -> list[Any]:
    """The model as a flat list of rules (at least one); NotImplementedError names the first
    uncovered module, ValueError a composition that does not fit."""
    rules = compile_rules(model, "analytic", layers=layers)
    if not rules:
        raise NotImplementedError("the analytic engine needs at least one layer, got an empty nn.Sequential")
    return rules
