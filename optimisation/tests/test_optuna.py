"""optuna TPE sweeps: the study lives in our database, and a fixed seed repeats its trials."""

from __future__ import annotations

from datetime import date

import optuna
import pytest
from django.db import connection

from optimisation import study as optuna_study
from optimisation.models import SweepChunk, SweepStatus

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the study lives in the project's PostgreSQL; SQLite's in-memory test database "
        "cannot be reached by optuna's own connection",
    ),
]

WINDOW = {"start": date(2006, 1, 1), "end": date(2008, 12, 31)}
SPACE = {
    "fast": {"start": 5, "stop": 30, "step": 1},
    "slow": {"start": 10, "stop": 60, "step": 2},
    "mode": ["long_short", "long_only"],
}


def _trial_sequence(sweep) -> list[dict]:
    seq: list[dict] = []
    for chunk in SweepChunk.objects.filter(sweep=sweep).order_by("seq"):
        seq.extend(chunk.params)
    return seq


def test_a_fixed_seed_reproduces_the_trial_sequence(goog_strategy, sweep_run):
    a = sweep_run(goog_strategy, space=SPACE, method="optuna", trials=25, seed=42, **WINDOW)
    b = sweep_run(goog_strategy, space=SPACE, method="optuna", trials=25, seed=42, **WINDOW)
    c = sweep_run(goog_strategy, space=SPACE, method="optuna", trials=25, seed=43, **WINDOW)

    assert a.status == b.status == c.status == SweepStatus.COMPLETE, (a.error, b.error)
    assert a.chunks_total == 3 and a.done == a.total == 25
    seq_a = _trial_sequence(a)
    assert len(seq_a) == 25
    assert seq_a == _trial_sequence(b)
    assert seq_a != _trial_sequence(c)
    assert (a.best_params, a.best_value) == (b.best_params, b.best_value)
    # the batches differ from one another (each chunk samples from its own stream)
    assert seq_a[:10] != seq_a[10:20]
    # refused trials (fast >= slow) are counted, and results exist only for valid ones
    refused = sum(p["fast"] >= p["slow"] for p in seq_a)
    assert a.skipped == refused
    assert a.results.count() == len({(p["fast"], p["slow"], p["mode"]) for p in seq_a}) - refused


def test_the_study_is_stored_in_our_database_and_told_every_value(goog_strategy, sweep_run):
    sweep = sweep_run(goog_strategy, space=SPACE, method="optuna", trials=12, seed=1, **WINDOW)
    assert sweep.status == SweepStatus.COMPLETE, sweep.error
    assert optuna_study.storage_url().startswith("postgresql+psycopg2://")
    study = optuna.load_study(study_name=sweep.study_name, storage=optuna_study.storage())
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 12
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in trials)
    told = {t.number: t.value for t in trials if t.state == optuna.trial.TrialState.COMPLETE}
    by_key = {
        (r.params["fast"], r.params["slow"], r.params["mode"]): r.value for r in sweep.results.all()
    }
    for t in trials:
        if t.number in told:
            assert told[t.number] == by_key[(t.params["fast"], t.params["slow"], t.params["mode"])]
    assert study.best_value == sweep.best_value
