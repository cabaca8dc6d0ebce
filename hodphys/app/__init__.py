"""The application layer: the ``hodphys`` command (:mod:`~hodphys.app.cli`), settings parsing
(:mod:`~hodphys.app.settings`: defaults ← TOML ← ``--set``) and the problem loader
(:mod:`~hodphys.app.problem_loader`: find, load and run ``problems/<name>.py``).

Run directories themselves (:class:`hodphys.io.runs.Run`, ``atomic_write``) live in :mod:`hodphys.io`,
below :mod:`hodphys.train`, which writes checkpoints through them.
"""
