"""The equal-budget CNF study: its runs' settings (both stop on the budget, lr decayed over it), the
check that each run used its budget, its table; one real run of ``hodphys run cnf`` as the study
launches it."""
import pytest

from hodphys.bench.studies import flows as study


@pytest.fixture
def fake_runs(monkeypatch):
    """run_cnf replaced: exact costs 0.02 CPU s per step, Hutchinson 0.01, each run stops on the
    first step past its budget; NLL falls with steps, exact 0.1 lower at equal steps."""
    calls = []

    def run_cnf(runs, settings):
        calls.append(settings)
        per_step = 0.02 if settings["trace"] == "exact" else 0.01
        steps = min(settings["adam_steps"], round(settings["max_cpu_seconds"] / per_step))
        bonus = 0.1 if settings["trace"] == "exact" else 0.0
        return {"train_cpu_seconds": per_step * steps, "steps": steps,
                "test_nll": 3.0 - 1e-4 * steps - bonus + 0.01 * settings["seed"]}

    monkeypatch.setattr(study, "run_cnf", run_cnf)
    return calls


def test_both_estimators_train_until_the_same_budget_is_spent(tmp_path, fake_runs):
    result = study.compare(tmp_path, "8gaussians", [0, 1], budget=10.0, jobs=1)
    assert len(fake_runs) == 4 and {(s["trace"], s["seed"]) for s in fake_runs} == {
        (t, seed) for t in study.TRACES for seed in (0, 1)}
    assert all(s["max_cpu_seconds"] == 10.0 and s["lr_decay_over"] == "budget"
               and s["adam_steps"] == study.UNLIMITED for s in fake_runs)
    assert result["exact"]["steps"] == [500, 500] and result["hutchinson"]["steps"] == [1000, 1000]
    assert result["exact"]["cpu"] == result["hutchinson"]["cpu"] == [10.0, 10.0]
    fake_runs.clear()
    study.compare(tmp_path, "digits", [0], budget=1.0, jobs=1)
    assert fake_runs and all(s["n_interior"] == 64 for s in fake_runs)
    row = study.table_row("8gaussians", 10.0, result)
    # exact: 3 − 0.05 − 0.1 = 2.85 (+0.005 mean seed term); Hutchinson: 3 − 0.1 = 2.9 (+0.005);
    # exact's step costs twice Hutchinson's
    assert "| 500 (10.0 s) | **2.855 ± 0.005** | 1000 (10.0 s) | 2.905 ± 0.005 | -0.050 ± 0.000 |" in row
    assert row.endswith("| 2/2 | yes | 2.00 |")
    swapped = study.table_row("8gaussians", 10.0, {"exact": result["hutchinson"], "hutchinson": result["exact"]})
    assert "| 2.905 ± 0.005 |" in swapped and "**2.855 ± 0.005**" in swapped and swapped.endswith("| 0/2 | no | 0.50 |")


def test_a_run_that_stopped_short_of_its_budget_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "run_cnf", lambda runs, s: {"train_cpu_seconds": 9.7, "steps": 5, "test_nll": 3.0})
    with pytest.raises(RuntimeError, match=r"pinwheel, exact trace, seed 0: trained 9.7 of its 10 CPU s \(5 steps\)"):
        study.compare(tmp_path, "pinwheel", [0], budget=10.0, jobs=1)
    study.check_budget_used({"train_cpu_seconds": 9.8, "steps": 5}, 10.0, "at 98 %")  # enough: no error


@pytest.mark.slow  # a process that imports torch and evaluates: 10–60 s on a shared machine
def test_a_real_run_reports_what_the_table_needs(tmp_path):
    metrics = study.run_cnf(tmp_path, study.budget_settings("8gaussians", 0, "hutchinson", 0.5) | {
        "n_test": 50, "n_validation": 50})
    assert metrics["steps"] > 1 and metrics["train_cpu_seconds"] >= 0.5 and metrics["test_nll"] > 0
    study.check_budget_used(metrics, 0.5, "the real run")


@pytest.mark.slow
def test_a_failed_run_says_which_command(tmp_path):
    with pytest.raises(RuntimeError, match="hodphys run cnf.*failed"):
        study.run_cnf(tmp_path, {"dataset": "nosuchdata"})
