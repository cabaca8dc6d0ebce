"""The per-step cost study of the CNF: counted work says where an exact step saves on Hutchinson's."""
import pytest

from hodphys.bench.studies import flows_cost as study


def test_exact_steps_do_hutchinsons_matmul_work_only_where_the_jacobian_term_is_taken():
    rows = study.measure(2, rounds=1, counted=2)
    assert set(rows) == set(study.CONTENDERS)
    hutchinson = rows["hutchinson"]["mflop"]
    # the term at every evaluation: the VJP through the whole net at every evaluation, as Hutchinson's
    assert rows["exact, Jacobian term at every evaluation"]["mflop"] == pytest.approx(hutchinson, rel=1e-12)
    assert rows["hutchinson, no RNODE terms"]["mflop"] == pytest.approx(hutchinson, rel=1e-12)
    # on a share of them: between the transformer-only backward pass and Hutchinson's
    assert rows["exact, no RNODE terms"]["mflop"] < rows["exact"]["mflop"] < hutchinson
    assert all(row["ms"] > 0 and row["ops"] > 0 for row in rows.values())
    assert rows["hutchinson"]["ratio"] == 1.0
