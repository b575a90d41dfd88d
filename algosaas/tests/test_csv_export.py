"""CSV for spreadsheets: text that would run as a formula is neutralised, numbers stay numbers."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from algosaas.csv_export import csv_cell, csv_lines

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\tx", "\r=1", "-5", "=", "-"],
)
def test_text_starting_a_formula_gets_a_leading_quote(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Alpha", "1+1", "a=b", " =1", "", "₹100", "'quoted"])
def test_other_text_is_left_alone(text):
    assert csv_cell(text) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("-1250.50"), "-1250.50"),  # a loss stays a number a spreadsheet can sum
        (Decimal("1E+2"), "100"),
        (-3, "-3"),
        (-0.25, "-0.25"),
        (0, "0"),
        (None, ""),
        (True, "True"),
        (datetime(2026, 11, 20, 4, 0, 5, 123, tzinfo=UTC), "2026-11-20T04:00:05+00:00"),
        (date(2026, 11, 20), "2026-11-20"),
    ],
)
def test_numbers_dates_and_blanks_are_written_plain(value, expected):
    assert csv_cell(value) == expected


def test_lines_round_trip_through_a_csv_reader():
    rows = [["=cmd|' /C calc'!A0", Decimal("-2.50"), 'say "hi", then go'], [None, 7, "-x"]]
    text = "".join(csv_lines(["name", "pnl", "note"], rows))
    assert list(csv.reader(io.StringIO(text))) == [
        ["name", "pnl", "note"],
        ["'=cmd|' /C calc'!A0", "-2.50", 'say "hi", then go'],
        ["", "7", "'-x"],
    ]


def test_every_csv_export_goes_through_the_one_helper():
    """No module but ``algosaas/csv_export.py`` writes CSV (tests and migrations aside)."""
    offenders = []
    for path in ROOT.glob("**/*.py"):
        rel = path.relative_to(ROOT)
        if {".venv", "tests", "migrations"} & set(rel.parts) or rel.parts[0] == "bench":
            continue
        if rel == Path("algosaas/csv_export.py"):
            continue
        source = path.read_text(encoding="utf-8")
        if "csv.writer" in source or "csv.DictWriter" in source or "text/csv" in source:
            offenders.append(str(rel))
    assert offenders == []
