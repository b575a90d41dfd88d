"""django-q2 tasks of the optimisation app: they take ids and call services."""

from __future__ import annotations

from optimisation.robustness import walk_forward_run
from optimisation.services import sweep_chunk_run


def sweep_chunk(chunk_id: int) -> str:
    """Run one chunk of a sweep (a redelivered task finds it done and does nothing)."""
    return sweep_chunk_run(chunk_id=chunk_id)


def walk_forward(run_id: int) -> str:
    """Run one walk-forward (a redelivered task finds it finished and does nothing)."""
    return walk_forward_run(run_id=run_id)
