"""Longer measurements than one bench case, each a module with a ``main`` that prints markdown
tables (``python -m hodphys.bench.studies.<domain> [--quick]``); the cases in
:mod:`hodphys.bench.cases` reuse their models and workloads."""
