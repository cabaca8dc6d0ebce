"""The equal-budget CNF study: its plan (steps from the measured cost), its runs' settings, its table;
one real run of ``hodphys run cnf`` as the study launches it."""
import pytest

from hodphys.bench.studies import flows as study


@pytest.fixture
def fake_runs(monkeypatch):
    """run_cnf replaced: exact costs 0.02 CPU s per step, Hutchinson 0.01; NLL falls with steps."""
    calls = []

    def run_cnf(runs, settings):
        calls.append(settings)
        per_step = 0.02 if settings["trace"] == "exact" else 0.01
        steps = settings["adam_steps"]
        bonus = 0.1 if settings["trace"] == "exact" else 0.0
        return {"train_cpu_seconds": per_step * steps, "steps": steps,
                "test_nll": 3.0 - 1e-4 * steps - bonus + 0.01 * settings["seed"]}

    monkeypatch.setattr(study, "run_cnf", run_cnf)
    return calls


def test_each_estimator_gets_the_steps_the_budget_affords(tmp_path, fake_runs):
    result = study.compare(tmp_path, "8gaussians", [0, 1], budget=10.0, calibration=5, jobs=1)
    assert result["exact"]["planned_steps"] == 550 and result["hutchinson"]["planned_steps"] == 1100
    timed = [s for s in fake_runs if "max_cpu_seconds" in s]
    assert len(timed) == 4 and all(s["max_cpu_seconds"] == 10.0 for s in timed)
    assert {(s["trace"], s["seed"]) for s in timed} == {(t, seed) for t in study.TRACES for seed in (0, 1)}
    fake_runs.clear()
    study.compare(tmp_path, "digits", [0], budget=1.0, calibration=5, jobs=1)
    assert fake_runs and all(s["n_interior"] == 64 for s in fake_runs)
    row = study.table_row("8gaussians", 10.0, result)
    # (the fake runs take every planned step) exact: 3 − 0.055 − 0.1 = 2.845 (+0.005 mean seed term);
    # Hutchinson: 3 − 0.11 = 2.89 (+0.005)
    assert "**2.850 ± 0.005**" in row and "2.895 ± 0.005" in row and "-0.045 ± 0.000" in row
    assert row.endswith("| 2/2 | yes |")
    swapped = study.table_row("8gaussians", 10.0, {"exact": result["hutchinson"], "hutchinson": result["exact"]})
    assert "| 2.895 ± 0.005 |" in swapped and "**2.850 ± 0.005**" in swapped and swapped.endswith("| 0/2 | no |")


@pytest.mark.slow  # a process that imports torch and evaluates: 10–60 s on a shared machine
def test_a_real_run_reports_what_the_table_needs(tmp_path):
    metrics = study.run_cnf(tmp_path, study._base("8gaussians", 0) | {
        "trace": "hutchinson", "adam_steps": 3, "n_test": 50, "n_validation": 50, "max_cpu_seconds": 60})
    assert metrics["steps"] == 3 and metrics["train_cpu_seconds"] > 0 and metrics["test_nll"] > 0


@pytest.mark.slow
def test_a_failed_run_says_which_command(tmp_path):
    with pytest.raises(RuntimeError, match="hodphys run cnf.*failed"):
        study.run_cnf(tmp_path, {"dataset": "nosuchdata"})
