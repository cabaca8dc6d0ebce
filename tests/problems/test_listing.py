"""The problems as the CLI sees them: `hodphys list`, unknown names and keys."""
from hodphys.app.cli import main


def test_list_shows_both_poisson_problems(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "poisson " in out and "HoD-Net 8-output Poisson" in out and "poisson-nd" in out


def test_unknown_problem_and_unknown_key_list_what_exists(capsys, tmp_path):
    assert main(["run", "poison", "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown problem 'poison'; known: [" in err and "'poisson'" in err and "'poisson-nd'" in err
    assert main(["run", "poisson-nd", "--set", "dimension=20", "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown config key(s) ['dimension']" in err and "'dim'" in err and "'n_interior'" in err
    assert main(["run", "poisson-nd", "--set", "dim=twenty", "--runs", str(tmp_path)]) == 2
    assert "config key 'dim': expected an integer, got 'twenty'" in capsys.readouterr().err
