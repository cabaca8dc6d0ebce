"""The mutation runner's own checks (the mutations themselves run on demand only: a mutation whose
search string has gone stale is reported by the runner, not by the default suite, so that changing
a line a mutation edits never fails another engineer's test run)."""
import pytest

from tests.mutations.catalog import MUTATIONS
from tests.mutations.run import apply, main


def test_a_search_string_that_is_gone_is_named(tmp_path):
    mutation = MUTATIONS[0]
    (tmp_path / "hodphys").mkdir()
    (tmp_path / "hodphys" / "request.py").write_text("nothing to mutate\n")
    with pytest.raises(ValueError, match="request-flip.*found it 0 times; update tests/mutations/catalog.py"):
        apply(mutation, tmp_path)


def test_unknown_mutation_names_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["no-such-mutation"])
    assert "unknown mutation(s) ['no-such-mutation']" in capsys.readouterr().err


def test_a_stale_mutation_is_reported_and_fails_the_run(monkeypatch, capsys):
    from tests.mutations import run
    stale = run.Mutation("stale", "a search string that is gone", (("README.md", "no such text anywhere", ""),),
                         ("tests/mutations/test_catalog.py",))
    monkeypatch.setattr(run, "MUTATIONS", [stale])
    assert run.main([]) == 1
    assert "STALE    stale" in capsys.readouterr().out
