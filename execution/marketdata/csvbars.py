"""Parse OHLCV CSV files (like ``data/GOOG.csv``) into validated bars.

Pure: no Django, no database. The upload/import service calls this, then saves the bars.
A user fixing a file wants every problem at once, so rows are checked to the end and the errors
are collected (up to ``max_errors``) into one ``CsvFormatError``.

Accepted format:

* The first non-blank row is a header. Its timestamp column is the one named ``date``,
  ``datetime``, ``timestamp`` or ``time`` (any case), or else the first column, which may be
  unnamed (``,Open,High,Low,Close,Volume``). ``Open``, ``High``, ``Low``, ``Close`` and ``Volume``
  are found by name in any letter case and order; other columns (``Adj Close``) are ignored.
* Timestamps are ``YYYY-MM-DD`` (midnight UTC) or ISO 8601 datetimes; naive ones are UTC, ones
  with an offset are converted to UTC.
* Prices are positive decimals, kept exact as ``Decimal``; volume is a non-negative whole number.
* Rows may come in any order (the result is sorted by time); a repeated timestamp is an error.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import IO

__all__ = ["MAX_ERRORS", "CsvFormatError", "ParsedBar", "parse_ohlcv_csv"]

MAX_ERRORS = 20

_PRICE_FIELDS = ("open", "high", "low", "close")
_REQUIRED = (*_PRICE_FIELDS, "volume")
_TIME_NAMES = ("date", "datetime", "timestamp", "time")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class ParsedBar:
    """One validated bar: open time (aware, UTC), exact prices, whole volume."""

    ts: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


class CsvFormatError(ValueError):
    """Raised by ``parse_ohlcv_csv`` when the file is malformed.

    ``errors`` lists ``(line_number, message)`` for every problem found, in file order, up to the
    cap; ``truncated`` says more were left out. ``line_number``/``message`` are the first one's.
    Line numbers are the file's physical lines, 1-based (the header is usually line 1).
    """

    def __init__(self, errors: Iterable[tuple[int, str]], *, truncated: bool = False):
        self.errors: list[tuple[int, str]] = list(errors)
        if not self.errors:
            raise ValueError("CsvFormatError needs at least one error")
        self.truncated = truncated
        self.line_number, self.message = self.errors[0]
        text = "; ".join(f"line {line}: {msg}" for line, msg in self.errors)
        if truncated:
            text += "; (more errors not shown)"
        super().__init__(text)


class _Errors:
    """Collects errors up to a cap; ``full`` tells the parser it can stop reading."""

    def __init__(self, cap: int):
        self.cap = cap
        self.items: list[tuple[int, str]] = []
        self.truncated = False

    def add(self, line: int, message: str) -> None:
        if len(self.items) < self.cap:
            self.items.append((line, message))
        else:
            self.truncated = True

    @property
    def full(self) -> bool:
        return self.truncated


def parse_ohlcv_csv(
    source: str | os.PathLike[str] | IO[str] | IO[bytes], *, max_errors: int = MAX_ERRORS
) -> list[ParsedBar]:
    """Return the bars of an OHLCV CSV file sorted by time, or raise ``CsvFormatError``.

    ``source`` is a path or an open file (text or binary; UTF-8, with or without a BOM).
    """
    if isinstance(source, str | os.PathLike):
        with open(source, encoding="utf-8-sig", newline="") as f:
            return _parse(f, max_errors)
    if not _is_binary(source):
        return _parse(source, max_errors)  # type: ignore[arg-type]
    wrapper = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")  # type: ignore[arg-type]
    try:
        return _parse(wrapper, max_errors)
    finally:
        wrapper.detach()  # leave the caller's file open


def _is_binary(f: IO[str] | IO[bytes]) -> bool:
    """Tell bytes from text by reading nothing: works for any file-like (uploads included)."""
    if isinstance(f, io.TextIOBase):
        return False
    if isinstance(f, io.RawIOBase | io.BufferedIOBase):
        return True
    return isinstance(f.read(0), bytes)


def _numbered_rows(f: IO[str], errors: _Errors) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first physical line, cells)`` for each CSV record, skipping blank lines."""
    reader = csv.reader(f)
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            errors.add(line, "The file is not UTF-8 text.")
            return
        except csv.Error as e:
            errors.add(line, f"Unreadable CSV: {e}.")
            return
        start, line = line, reader.line_num + 1
        if any(cell.strip() for cell in row):
            yield start, row


def _parse(f: IO[str], max_errors: int) -> list[ParsedBar]:
    errors = _Errors(max(1, max_errors))
    rows = _numbered_rows(f, errors)
    header_line, header = next(rows, (1, []))
    if not header:
        errors.add(header_line, "The file is empty.")
        raise CsvFormatError(errors.items)
    columns = _columns(header, header_line, errors)
    if columns is None:
        raise CsvFormatError(errors.items, truncated=errors.truncated)

    bars: list[ParsedBar] = []
    seen: dict[datetime, int] = {}
    for line, row in rows:
        bar = _parse_row(line, row, len(header), columns, errors)
        if bar is not None:
            first = seen.setdefault(bar.ts, line)
            if first != line:
                errors.add(
                    line, f"Duplicate timestamp {bar.ts.isoformat()} (first on line {first})."
                )
            else:
                bars.append(bar)
        if errors.full:
            break
    if not bars and not errors.items:
        errors.add(header_line, "The file has a header but no data rows.")
    if errors.items:
        raise CsvFormatError(errors.items, truncated=errors.truncated)
    bars.sort(key=lambda b: b.ts)
    return bars


def _columns(header: list[str], line: int, errors: _Errors) -> dict[str, int] | None:
    """Map ``ts``/``open``/… to column indices, or report what is wrong with the header."""
    names = [cell.strip().lstrip("\ufeff").lower() for cell in header]
    columns: dict[str, int] = {}
    duplicated = sorted({n for n in names if n and names.count(n) > 1} & {*_REQUIRED, *_TIME_NAMES})
    if duplicated:
        errors.add(line, f"Duplicate column(s): {', '.join(duplicated)}.")
        return None
    missing = [name.capitalize() for name in _REQUIRED if name not in names]
    if missing:
        errors.add(
            line,
            f"Missing column(s): {', '.join(missing)}. The first row must be a header naming a "
            "date column and Open, High, Low, Close and Volume.",
        )
        return None
    for name in _REQUIRED:
        columns[name] = names.index(name)
    time_columns = [i for i, n in enumerate(names) if n in _TIME_NAMES]
    if len(time_columns) > 1:
        errors.add(line, "More than one date/time column; keep one.")
        return None
    if time_columns:
        columns["ts"] = time_columns[0]
    elif names[0] in _REQUIRED:
        errors.add(line, "The first column must be the date or datetime of each bar.")
        return None
    else:
        columns["ts"] = 0
    return columns


def _parse_row(
    line: int, row: list[str], width: int, columns: dict[str, int], errors: _Errors
) -> ParsedBar | None:
    """Return the row's bar, or ``None`` after reporting each of its problems."""
    if len(row) < width or any(cell.strip() for cell in row[width:]):
        errors.add(line, f"Expected {width} columns, found {len(row)}.")
        return None
    before = len(errors.items) + errors.truncated
    ts = _parse_time(row[columns["ts"]].strip(), line, errors)
    prices: dict[str, Decimal] = {}
    for name in _PRICE_FIELDS:
        value = _parse_number(row[columns[name]], name, line, errors)
        if value is not None:
            if value <= 0:
                errors.add(line, f"{name.capitalize()} must be positive, got {value}.")
            else:
                prices[name] = value
    volume = _parse_volume(row[columns["volume"]], line, errors)
    if len(prices) == len(_PRICE_FIELDS):
        _check_ohlc(prices, line, errors)
    if len(errors.items) + errors.truncated != before or ts is None or volume is None:
        return None
    return ParsedBar(ts, prices["open"], prices["high"], prices["low"], prices["close"], volume)


def _parse_time(text: str, line: int, errors: _Errors) -> datetime | None:
    try:
        if _DATE_ONLY.fullmatch(text):
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        if not text or not text[0].isdigit():
            raise ValueError
        parsed = datetime.fromisoformat(text)
    except ValueError:
        shown = text if text else "(empty)"
        errors.add(line, f"Invalid date {shown!r}: use YYYY-MM-DD or an ISO 8601 datetime.")
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_number(text: str, name: str, line: int, errors: _Errors) -> Decimal | None:
    text = text.strip()
    label = name.capitalize()
    if not text:
        errors.add(line, f"{label} is missing.")
        return None
    if not _NUMBER.fullmatch(text):
        errors.add(line, f"{label} is not a number: {text!r}.")
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern only lets valid decimals through
        errors.add(line, f"{label} is not a number: {text!r}.")
        return None


def _parse_volume(text: str, line: int, errors: _Errors) -> int | None:
    value = _parse_number(text, "volume", line, errors)
    if value is None:
        return None
    if value < 0:
        errors.add(line, f"Volume must not be negative, got {value}.")
        return None
    if value != value.to_integral_value():
        errors.add(line, f"Volume must be a whole number, got {value}.")
        return None
    return int(value)


def _check_ohlc(p: dict[str, Decimal], line: int, errors: _Errors) -> None:
    """Report a high/low that does not contain the bar's other prices."""
    if p["high"] < p["low"]:
        errors.add(line, f"High ({p['high']}) is below Low ({p['low']}).")
        return
    for name in ("open", "close"):
        if p["high"] < p[name]:
            errors.add(line, f"High ({p['high']}) is below {name.capitalize()} ({p[name]}).")
        if p["low"] > p[name]:
            errors.add(line, f"Low ({p['low']}) is above {name.capitalize()} ({p[name]}).")
