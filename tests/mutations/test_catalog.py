"""The planted-bug catalogue stays applicable (the mutations themselves run on demand only)."""
import shutil

import pytest

from tests.mutations.catalog import MUTATIONS
from tests.mutations.run import ROOT, apply, main


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_every_edit_applies_once_and_names_existing_tests(mutation, tmp_path):
    for file in {edit[0] for edit in mutation.edits}:
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / file, tmp_path / file)
    apply(mutation, tmp_path)
    assert all((ROOT / test.split("::")[0]).exists() for test in mutation.tests)


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
