"""What every dashboard page of the execution app shares: toasts, pagination, names, epochs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse

from strategies import catalog

PAGE_SIZE = 25
INLINE_ERRORS = "Check the highlighted fields."
LEVELS = {"success": messages.SUCCESS, "error": messages.ERROR, "warning": messages.WARNING}


def answer_with(
    response: HttpResponse, level: str | None = None, message: str = "", *events: str
) -> HttpResponse:
    """Set ``HX-Trigger``: a toast (``app.js`` shows it) plus any page events to fire."""
    payload: dict[str, Any] = {name: True for name in events}
    if level:
        # json.dumps escapes non-ASCII (₹, quotes), so the header stays latin-1 safe.
        payload["toast"] = {"level": level, "message": message}
    if payload:
        response["HX-Trigger"] = json.dumps(payload)
    return response


def type_names() -> dict[str, str]:
    """Catalogue key -> display name of every strategy type."""
    return {t.key: t.name for t in catalog.all_types()}


def epoch(moment: datetime) -> int:
    """Seconds since the epoch, as the charts' time axis wants them."""
    return int(moment.timestamp())


def paginate(request: HttpRequest, queryset: Any, size: int) -> Page:
    """The page ``?page=`` asks for (the last one when out of range)."""
    return Paginator(queryset, size).get_page(request.GET.get("page"))


BASKET_NAMED = 4  # members named in a basket run's or backtest's heading


def basket_label(config: dict[str, Any]) -> str:
    """A basket's members (the first few, then how many more); empty for one instrument."""
    members = config.get("instruments")
    if not members:
        return ""
    names = ", ".join("{exchange}:{symbol}".format(**m) for m in members[:BASKET_NAMED])
    more = f" +{len(members) - BASKET_NAMED}" if len(members) > BASKET_NAMED else ""
    return f"basket of {len(members)}: {names}{more}"
