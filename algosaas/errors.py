"""The domain-error base class that services raise and the API turns into HTTP answers."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule refused an action. Subclasses set the HTTP status and a stable code."""

    status_code = 400
    code = "domain_error"

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None, **extra: Any):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.extra = extra


class Conflict(DomainError):
    """Raised when the object's current state forbids the action (HTTP 409)."""

    status_code = 409
    code = "conflict"


class LimitExceeded(DomainError):
    """Raised when a per-user resource cap would be exceeded (HTTP 403)."""

    status_code = 403
    code = "limit_exceeded"
