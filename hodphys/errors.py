"""The exceptions ``hodphys run`` reports as one line rather than as a traceback.

* :class:`InputError` — bad input the user can fix (a config value, a path, a mesh, a size):
  one line naming the input and what was expected; the command exits with status 2.
* :class:`MemoryLimitError` — a computation refused up front because its memory estimate is
  above the limit (an :class:`InputError` and a ``MemoryError``).
* :class:`RunFailure` — a run stopped for a reason its message explains (training diverged, a
  simulation gave up): one message, exit status 1, the traceback kept in ``run.log``.

Any other exception raised by a problem's own code is a bug there: its traceback is shown.
"""
from __future__ import annotations


class InputError(ValueError):
    """Bad input: the message names the input and what was expected."""


class MemoryLimitError(InputError, MemoryError):
    """The estimated memory of a computation exceeds the limit (see :mod:`hodphys.memory_limit`)."""


class RunFailure(RuntimeError):
    """A run stopped for a reason its message states; the run directory keeps what was done."""
