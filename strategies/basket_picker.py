"""The strategy form's basket picker: chosen instruments in order, and a search to add more.

An htmx partial (``strategies:basket_picker``) renders both from the request: the ticked
``instruments`` (in the order sent) and the matches of ``basket_q``, so each change of a box
or of the search redraws the picker with what the user has chosen so far.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.db.models import Q

from strategies.models import MAX_BASKET_SIZE, Strategy

Instrument = Strategy._meta.get_field("instrument").related_model

SEARCH_RESULTS = 20
MAX_QUERY = 64
CAP_PREFIX = "cap_"  # ``cap_<instrument id>``: a member's allocation cap, % of the capital
CAP_MIN, CAP_MAX = Decimal("0.01"), Decimal("100")


def cap_inputs(data: Mapping[str, Any], ids: Iterable[int]) -> dict[int, str]:
    """The cap typed for each member that had an input (blank: an equal split)."""
    return {
        i: str(data.get(f"{CAP_PREFIX}{i}") or "").strip()[:12]
        for i in ids
        if f"{CAP_PREFIX}{i}" in data
    }


def parse_cap(text: str, label: str) -> Decimal | None:
    """A member's cap as typed: blank is ``None`` (equal split), else a percentage."""
    if not text:
        return None
    try:
        pct = Decimal(text)
    except InvalidOperation:
        raise forms.ValidationError(
            f"{label}: the cap must be a number (% of the capital)."
        ) from None
    if not pct.is_finite() or not CAP_MIN <= pct <= CAP_MAX or pct != pct.quantize(CAP_MIN):
        raise forms.ValidationError(
            f"{label}: the cap must be between {CAP_MIN} and {CAP_MAX} % (two decimals at most)."
        )
    return pct


def parse_ids(values: Iterable[Any]) -> list[int]:
    """Instrument ids in the order given, once each; anything not an id is refused."""
    out: list[int] = []
    for v in values:
        text = str(v).strip()
        if not text.isdigit() or len(text) > 18:
            raise forms.ValidationError(f"{text[:20]!r} is not an instrument id.")
        if int(text) not in out:
            out.append(int(text))
    return out


def instruments_in_order(ids: Sequence[int]) -> list[Any]:
    """The instruments of ``ids``, in that order (unknown ids are left out)."""
    found = Instrument.objects.in_bulk(list(ids))
    return [found[i] for i in ids if i in found]


class BasketField(forms.Field):
    """The ticked instruments of the picker, in order (a basket; empty: one instrument)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[Any]:
        ids = parse_ids(value or [])
        if len(ids) > MAX_BASKET_SIZE:
            raise forms.ValidationError(f"At most {MAX_BASKET_SIZE} instruments in a basket.")
        chosen = instruments_in_order(ids)
        if len(chosen) != len(ids):
            raise forms.ValidationError("An instrument of the basket no longer exists.")
        return chosen


def picker_context(
    chosen_ids: Sequence[int], query: str, caps: Mapping[int, Any] | None = None
) -> dict[str, Any]:
    """What the picker shows: the chosen instruments with their caps (as typed or stored),
    then up to 20 others matching ``query``."""
    chosen = instruments_in_order(chosen_ids)
    caps = caps or {}
    query = query.strip()[:MAX_QUERY]
    results: list[Any] = []
    if query:
        results = list(
            Instrument.objects.filter(Q(symbol__icontains=query) | Q(name__icontains=query))
            .exclude(pk__in=[i.pk for i in chosen])
            .order_by("exchange", "symbol")[:SEARCH_RESULTS]
        )
    return {
        "basket_chosen": chosen,
        "basket_members": [
            {"instrument": i, "cap": "" if caps.get(i.pk) is None else str(caps[i.pk])}
            for i in chosen
        ],
        "basket_results": results,
        "basket_q": query,
        "basket_max": MAX_BASKET_SIZE,
    }
