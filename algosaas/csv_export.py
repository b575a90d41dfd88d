"""The one way the project writes CSV for people to open in a spreadsheet.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (a strategy
named ``=HYPERLINK("http://x","y")`` became a live link), and tab or carriage return can hide
one. Following OWASP's rule (https://owasp.org/www-community/attacks/CSV_Injection), every *text*
cell that starts with one of those gets a leading single quote, which spreadsheets read as
"this is text" and do not show.

Numbers are not text: an ``int``, ``float`` or ``Decimal`` is written as a plain number and never
prefixed, so a loss of ``-1250.50`` stays a number a spreadsheet can sum (a leading ``-`` on a
number is a sign, not a formula). A column that may be negative must therefore reach this module
as a number, never pre-formatted as a string.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse

from execution.marketdata.ticks import PRICE_PLACES, price_text

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """Return ``value`` as one safe cell: blank for None, plain numbers, ISO times, inert text."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        if -int(value.as_tuple().exponent) == PRICE_PLACES:  # a price: the places it has
            return price_text(value)
        return format(value, "f")  # no exponent: 1E+2 would read as text in some locales
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """A file-like object whose ``write`` hands the line back, for a streaming csv.writer."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """Yield the header and each row as one CSV line, every cell through ``csv_cell``."""
    writer = csv.writer(_Echo())
    yield writer.writerow([csv_cell(name) for name in header])
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def csv_download(
    filename: str, header: Sequence[str], rows: Iterable[Iterable[Any]]
) -> StreamingHttpResponse:
    """Stream ``rows`` as an attachment named ``filename`` (rows are read lazily, in order)."""
    response = StreamingHttpResponse(
        csv_lines(header, rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
