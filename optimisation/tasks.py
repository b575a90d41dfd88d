"""django-q2 tasks of the optimisation app: they take ids and call services."""

from __future__ import annotations

from optimisation.recovery import optimisation_recover
from optimisation.services import sweep_chunk_run
from optimisation.walkforward_steps import (
    walk_forward_chunk_run,
    walk_forward_resume,
    walk_forward_window_run,
)


def sweep_chunk(chunk_id: int) -> str:
    """Run one chunk of a sweep (a redelivered task finds it done and does nothing)."""
    return sweep_chunk_run(chunk_id=chunk_id)


def walk_forward_chunk(chunk_id: int) -> str:
    """Run one in-sample chunk of a walk-forward (a redelivered task finds it done)."""
    return walk_forward_chunk_run(chunk_id=chunk_id)


def walk_forward_window(run_id: int, index: int) -> str:
    """Test one window of a walk-forward out-of-sample (a redelivered task finds it stored)."""
    return walk_forward_window_run(run_id=run_id, index=index)


def walk_forward(run_id: int) -> str:
    """A walk-forward task queued before runs were split into steps: queue its steps."""
    return f"queued {walk_forward_resume(run_id=run_id)} steps"


def recover_steps() -> dict[str, int]:
    """The schedule that queues again the sweep chunks and walk-forward steps whose task is lost."""
    return optimisation_recover()
