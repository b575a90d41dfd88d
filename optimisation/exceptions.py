"""Errors raised by the optimisation services; the API renders each in the one error shape."""

from algosaas.errors import Conflict, DomainError


class SweepInvalid(DomainError):
    """Raised when a sweep cannot run as asked: a bad space, method or objective, or a per-user
    limit (its ``fields`` name the field, or the limit's setting); HTTP 400."""

    status_code = 400
    code = "invalid"


class SweepConflict(Conflict):
    """Raised when a sweep's state forbids the action (cancelling a finished sweep); HTTP 409."""


class RobustnessInvalid(DomainError):
    """Raised when a walk-forward or Monte Carlo cannot run as asked (its ``fields`` name the
    field, or the limit's setting); HTTP 400."""

    status_code = 400
    code = "invalid"


class RobustnessConflict(Conflict):
    """Raised when the object is not ready for the report (a backtest not yet complete); 409."""
