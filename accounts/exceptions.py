"""Errors raised by the accounts services."""

from algosaas.errors import DomainError


class LoginLockedOut(DomainError):
    """Raised when too many failed logins locked this account from this address (HTTP 429)."""

    status_code = 429
    code = "locked_out"
