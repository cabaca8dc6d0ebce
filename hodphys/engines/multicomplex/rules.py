"""The multicomplex engine's rules: the shared layer rules of :mod:`hodphys.engines.rules`, run on a
:class:`~hodphys.engines.multicomplex.jet.Jet` (or :class:`SecondOrderJet`) forward and on a Jet of
adjoints backward, in multicomplex arithmetic (CSFD-BP).

Covered: ``nn.Linear``, every activation :func:`hodphys.elementwise.elementwise_of` knows, every
:class:`hodphys.nn.BranchBlock` and whatever :func:`hodphys.register_rule` added, in plain (nested)
``nn.Sequential``.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from hodphys.engines.rules import compile_rules, register_rule

__all__ = ["compile_model", "register_rule"]


def compile_model(model: nn.Module, *, layers: tuple[nn.Module, ...] | None = None) -> list[Any]:
    """The model as a flat list of rules; NotImplementedError names the first uncovered module,
    ValueError a composition that does not fit (see :func:`hodphys.nn.check_composition`)."""
    return compile_rules(model, "multicomplex", layers=layers)
