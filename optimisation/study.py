"""The optuna study of a sweep, stored in our own database through optuna's RDB storage.

optuna keeps its studies in its own tables (``studies``, ``trials``, ...; created on first use
with its alembic migrations) inside the database Django uses, reached through SQLAlchemy with
the same connection settings. Connections are not pooled (``NullPool``): a chunk opens one,
asks or tells, and closes it, so no idle connection outlives the task (and test databases can
be dropped).

The search runs with ask/tell: a chunk asks a batch of trials, runs them as backtests and tells
the values. The sampler is rebuilt by each chunk from the sweep's seed and the chunk's number,
so two sweeps with the same seed and space ask the same sequence of trials.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import numpy as np
import optuna
from django.db import connection
from sqlalchemy.pool import NullPool

from optimisation.space import Space

optuna.logging.set_verbosity(optuna.logging.WARNING)


def storage_url() -> str:
    """SQLAlchemy's URL for Django's default database (PostgreSQL, or the SQLite file)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    if connection.vendor != "postgresql":
        raise RuntimeError(f"optuna storage is not set up for {connection.vendor}")
    auth = quote(s.get("USER") or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s.get("HOST") or "localhost"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgresql+psycopg2://{auth}@{host}{port}/{s['NAME']}"


def storage() -> optuna.storages.RDBStorage:
    return optuna.storages.RDBStorage(
        storage_url(), engine_kwargs={"poolclass": NullPool}, skip_compatibility_check=False
    )


def _sampler(seed: int, seq: int) -> optuna.samplers.TPESampler:
    # a fresh, distinct stream per chunk: the same seed in every chunk would repeat the
    # random start-up trials of the first chunk in the second
    chunk_seed = int(np.random.SeedSequence([seed & 0xFFFFFFFF, seq]).generate_state(1)[0])
    return optuna.samplers.TPESampler(seed=chunk_seed)


def study_load(name: str, *, seed: int, seq: int) -> optuna.Study:
    """The sweep's study, created by its first chunk (not by the request: on SQLite a second
    connection cannot write while the request's transaction holds the file)."""
    return optuna.create_study(
        study_name=name,
        storage=storage(),
        sampler=_sampler(seed, seq),
        direction="maximize",
        load_if_exists=True,
    )


def suggest(trial: optuna.Trial, space: Space) -> dict[str, Any]:
    """The trial's values for each dimension: a range as a stepped range, a list as choices."""
    values: dict[str, Any] = {}
    for d in space.dimensions:
        if d.step is None:
            values[d.name] = trial.suggest_categorical(d.name, list(d.values))
        elif d.param.kind == "int":
            values[d.name] = trial.suggest_int(d.name, d.values[0], d.values[-1], step=int(d.step))
        else:
            values[d.name] = trial.suggest_float(d.name, d.values[0], d.values[-1], step=d.step)
    return values


def ask(study: optuna.Study, space: Space, n: int) -> list[tuple[int, dict[str, Any]]]:
    """Ask ``n`` trials: (trial number, the space's values) for each."""
    asked = []
    for _ in range(n):
        trial = study.ask()
        asked.append((trial.number, suggest(trial, space)))
    return asked


def tell(study: optuna.Study, number: int, value: float | None) -> None:
    """Tell one trial's value (None: it failed, refused or infeasible); once only."""
    trial = study.get_trials(deepcopy=False)[number]
    if trial.state != optuna.trial.TrialState.RUNNING:
        return  # told by an earlier attempt of the same chunk
    if value is None:
        study.tell(number, state=optuna.trial.TrialState.FAIL)
    else:
        study.tell(number, value)
