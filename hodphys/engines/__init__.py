"""The derivative engines behind ``hp.*`` and the registry that chooses among them.

* :mod:`~hodphys.engines.registry` — ``ENGINES``, :func:`register_engine`, the cost-based choice of
  ``method="auto"`` and the dispatch :func:`run`;
* :mod:`~hodphys.engines.cost` — the shared cost model (multiply-adds plus a price per tensor op);
* engines: :mod:`~hodphys.engines.autograd` (torch.func, the reference), :mod:`~hodphys.engines.analytic`
  (closed-form layer rules, forward and backward mode), :mod:`~hodphys.engines.multicomplex`
  (complex steps of any order), :mod:`~hodphys.engines.hollow` (dimension-wise derivatives of a HollowNet).

Importing this package registers every engine.
"""
from hodphys.engines.registry import ENGINES, Choice, choose, register_engine, resolve, run
from hodphys.engines import analytic, autograd, multicomplex, hollow  # noqa: F401, I001  (each registers itself, in this order)
from hodphys.engines import constrained  # noqa: F401, E402  (HardConstraint models by the product rule)

__all__ = ["ENGINES", "Choice", "choose", "register_engine", "resolve", "run",
           "analytic", "autograd", "hollow", "multicomplex"]
