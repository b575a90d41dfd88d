"""Money formatting for templates: ``money``/``money_signed`` and ``price`` in an instrument's
currency, ``inr``/``inr_signed`` (rupees), ``lakh``, ``pnl_class``, ``ist``.

The currency is the filter's argument, an ISO code, optionally with places: ``{{ x|money:cur }}``,
``{{ x|money:"USD:0" }}``; blank means rupees. Rupees use Indian grouping, a comma after the last
three digits and then after every two (``₹12,34,567.89``); other currencies group in threes
(``$1,234,567.89``). See ``algosaas.currencies`` and docs/money.md.

Amounts are rounded half-up, as money is, and never pass through a float: a float input is read
from its shortest repr, so ``0.1`` stays ``0.1``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django import template
from django.utils import dateformat, timezone

from algosaas.currencies import Currency, currency_info

register = template.Library()

RUPEE = "₹"
EMPTY = "—"  # shown for None, blanks and anything that is not a finite number
IST = ZoneInfo("Asia/Kolkata")
_WIDE = Context(prec=60)  # room for any DecimalField(max_digits<=40) at two places


def to_decimal(value: Any) -> Decimal | None:
    """Return ``value`` as a finite ``Decimal``, or ``None`` when it is not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def group_indian(digits: str) -> str:
    """Group a string of digits the Indian way: ``1234567`` → ``12,34,567``."""
    if len(digits) <= 3:
        return digits
    head, groups = digits[:-3], [digits[-3:]]
    while head:
        groups.insert(0, head[-2:])
        head = head[:-2]
    return ",".join(groups)


def group_thousands(digits: str) -> str:
    """Group a string of digits in threes: ``1234567`` → ``1,234,567``."""
    return f"{int(digits):,}" if digits else digits


def _places(arg: Any, default: int) -> int:
    try:
        places = int(arg)
    except (TypeError, ValueError):
        return default
    return min(max(places, 0), 10)


def format_indian(number: Decimal, places: int, *, indian: bool = True) -> tuple[bool, str]:
    """Round ``number`` half-up to ``places`` and return ``(is_negative, grouped digits)``.

    A value that rounds to zero is never negative, so ``-0.001`` shows as ``0.00``. With
    ``indian=False`` the digits are grouped in threes.
    """
    rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=_WIDE)
    whole, _, fraction = f"{abs(rounded):f}".partition(".")
    grouped = group_indian(whole) if indian else group_thousands(whole)
    body = grouped + (f".{fraction}" if places else "")
    return rounded < 0, body


def _currency_arg(arg: Any, default_places: int = 2) -> tuple[Currency, int]:
    """Parse a filter argument ``"USD"`` or ``"USD:0"`` (blank: rupees) into currency and places."""
    code, _, places = str(arg or "").partition(":")
    return currency_info(code), _places(places, default_places) if places else default_places


def format_money(value: Any, currency: str | None = None, places: int = 2, *, signed=False) -> str:
    """``value`` in ``currency``: ``₹12,34,567.89``, ``-$1,234.50``; ``—`` when not a number.

    ``signed`` puts an explicit ``+`` on gains (P&L). For Python callers (views, forms, help
    texts); templates use the ``money`` and ``money_signed`` filters.
    """
    number = to_decimal(value)
    if number is None:
        return EMPTY
    cur = currency_info(currency)
    negative, body = format_indian(number, places, indian=cur.indian_grouping)
    sign = "-" if negative else ("+" if signed and pnl_class(number) == "up" else "")
    return f"{sign}{cur.symbol}{body}"


@register.filter(is_safe=True)
def money(value: Any, currency: Any = "") -> str:
    """Money in a currency (``{{ x|money:cur }}``, ``{{ x|money:"USD:0" }}``); ``—`` if none."""
    cur, places = _currency_arg(currency)
    return format_money(value, cur.code, places)


@register.filter(is_safe=True)
def money_whole(value: Any, currency: Any = "") -> str:
    """Money in whole units, for round figures such as capital: ``₹10,00,000``, ``$25,000``."""
    return format_money(value, str(currency or "").partition(":")[0], 0)


@register.filter(is_safe=True)
def money_signed(value: Any, currency: Any = "") -> str:
    """Like ``money`` with an explicit ``+`` on gains, for P&L: ``+$1,200.00``, ``-₹75.00``."""
    cur, places = _currency_arg(currency)
    return format_money(value, cur.code, places, signed=True)


@register.filter(is_safe=True)
def inr(value: Any, places: Any = 2) -> str:
    """``₹12,34,567.89``; negatives as ``-₹1,234.50``; ``—`` when there is no number."""
    number = to_decimal(value)
    if number is None:
        return EMPTY
    negative, body = format_indian(number, _places(places, 2))
    return f"{'-' if negative else ''}{RUPEE}{body}"


@register.filter(is_safe=True)
def price(value: Any, currency: Any = "") -> str:
    """A price to its own places, at least two: ``₹1,234.55``, ``$1.23456`` on an FX tick.

    ``money`` rounds to cents, right for money but not for a price on a 0.00001 or 1e-8 tick.
    """
    number = to_decimal(value)
    if number is None:
        return EMPTY
    cur = currency_info(str(currency or "").partition(":")[0])
    places = max(2, -int(number.normalize().as_tuple().exponent))
    negative, body = format_indian(number, min(places, 10), indian=cur.indian_grouping)
    return f"{'-' if negative else ''}{cur.symbol}{body}"


@register.filter(is_safe=True)
def inr_signed(value: Any, places: Any = 2) -> str:
    """Like ``inr`` with an explicit ``+`` on gains, for P&L: ``+₹1,200.00``, ``-₹75.00``."""
    number = to_decimal(value)
    if number is None:
        return EMPTY
    negative, body = format_indian(number, _places(places, 2))
    sign = "-" if negative else ("+" if pnl_class(number) == "up" else "")
    return f"{sign}{RUPEE}{body}"


@register.filter(is_safe=True)
def lakh(value: Any, places: Any = None) -> str:
    """Lakh grouping without a symbol: ``12,34,567`` for ints, two decimals for anything else."""
    number = to_decimal(value)
    if number is None:
        return EMPTY
    default = 0 if isinstance(value, int) else 2
    negative, body = format_indian(number, _places(places, default))
    return f"{'-' if negative else ''}{body}"


@register.filter(is_safe=True)
def pnl_class(value: Any) -> str:
    """CSS class of a P&L value at paise precision: ``up``, ``down``, ``zero`` (``""`` if none)."""
    number = to_decimal(value)
    if number is None:
        return ""
    negative, body = format_indian(number, 2)
    if negative:
        return "down"
    return "zero" if body.strip("0,.") == "" else "up"


@register.filter
def ist(value: Any, fmt: str = "d M Y, H:i") -> str:
    """A moment in Asia/Kolkata, whatever the active time zone: ``25 Nov 2025, 09:15``."""
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value, timezone.get_default_timezone())
        return dateformat.format(timezone.localtime(value, IST), fmt)
    if isinstance(value, date):
        return dateformat.format(value, "d M Y")
    return EMPTY
