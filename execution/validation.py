"""Cross-field rules of execution's requests, stated once for the service and the API.

Each returns ``{field: [messages]}`` and skips itself when a field it compares is missing, so
a serializer can run it over whichever fields parsed (``algosaas.api.serializers.
CrossFieldChecks``) and report it together with the single-field errors.
"""

from __future__ import annotations

from datetime import date
from typing import Any

END_BEFORE_START = "Must not be before start."


def backtest_range_errors(*, start: date | None, end: date | None) -> dict[str, list[str]]:
    """A backtest's range must not end before it starts (either end may be open)."""
    if start is not None and end is not None and start > end:
        return {"end": [END_BEFORE_START]}
    return {}


def backtest_request_errors(attrs: dict[str, Any]) -> dict[str, list[str]]:
    """Every cross-field rule of a backtest request over its valid fields ``attrs``."""
    return backtest_range_errors(start=attrs.get("start"), end=attrs.get("end"))
