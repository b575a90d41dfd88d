"""Currencies money is shown in: symbol and digit grouping per ISO code (plain Python).

An instrument's currency comes from its exchange (``execution.marketdata.exchanges``): rupees
for NSE/BSE, dollars for NASDAQ/NYSE. Rupees are grouped the Indian way (lakh, crore:
``12,34,567.89``); every other currency in threes (``1,234,567.89``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_CURRENCY", "Currency", "currency_info"]

DEFAULT_CURRENCY = "INR"  # the paper account's currency


@dataclass(frozen=True, slots=True)
class Currency:
    """How amounts of one currency are written."""

    code: str
    symbol: str  # written before the amount: ``₹``, ``$``, or ``USDT `` for a code-only one
    indian_grouping: bool = False
    locale: str = "en-US"  # for the charts' Intl.NumberFormat


_KNOWN = {
    c.code: c
    for c in (
        Currency("INR", "₹", indian_grouping=True, locale="en-IN"),
        Currency("USD", "$"),
        Currency("EUR", "€"),
        Currency("GBP", "£"),
        Currency("JPY", "¥"),
    )
}


def currency_info(code: str | None) -> Currency:
    """Return how to write ``code``: blank is the account's rupees, an unknown code is shown."""
    key = (code or DEFAULT_CURRENCY).strip().upper() or DEFAULT_CURRENCY
    return _KNOWN.get(key) or Currency(key, f"{key} ")
