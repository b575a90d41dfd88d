"""Percentages for templates: ``pct`` (``-0.0022%``) and ``pct_signed`` (``+1.25%``).

Two decimals hide a small move: a loss of ₹21.95 on ₹10 lakh is -0.0022 %, which two decimals
print as "0.00%" (or "-0.00%"). Below 0.01 % these show two significant digits instead, so a
loss never reads as nothing; only an exact zero prints ``0.00%``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from algosaas.templatetags.money import EMPTY, format_indian, to_decimal

register = template.Library()

SMALL = Decimal("0.01")
MAX_PLACES = 10


def percent_places(number: Decimal) -> int:
    """Decimal places that show ``number`` (a percentage) to two significant digits at least."""
    size = abs(number)
    if size == 0 or size >= SMALL:
        return 2
    return min(MAX_PLACES, 1 - size.adjusted())


@register.filter(is_safe=True)
def pct(value: Any) -> str:
    """``12.50%``, ``-0.0022%``; ``—`` when there is no number."""
    number = to_decimal(value)
    if number is None:
        return EMPTY
    negative, body = format_indian(number, percent_places(number))
    return f"{'-' if negative else ''}{body}%"


@register.filter(is_safe=True)
def pct_signed(value: Any) -> str:
    """Like ``pct`` with an explicit ``+`` on gains: ``+1.25%``, ``-0.0022%``."""
    number = to_decimal(value)
    if number is None:
        return EMPTY
    negative, body = format_indian(number, percent_places(number))
    sign = "-" if negative else ("+" if number > 0 else "")
    return f"{sign}{body}%"
