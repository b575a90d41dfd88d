"""Errors raised by the execution services; the API renders each in the one error shape."""

from algosaas.errors import DomainError


class BacktestInvalid(DomainError):
    """Raised when a backtest request cannot run as asked (bad range, no data); HTTP 400."""

    status_code = 400
    code = "invalid"
