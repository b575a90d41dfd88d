"""django-q2 tasks of the optimisation app: they take ids and call services."""

from __future__ import annotations

from optimisation.services import sweep_chunk_run


def sweep_chunk(chunk_id: int) -> str:
    """Run one chunk of a sweep (a redelivered task finds it done and does nothing)."""
    return sweep_chunk_run(chunk_id=chunk_id)
