import io
import itertools
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from execution.marketdata import CsvFormatError, ParsedBar, parse_ohlcv_csv

GOOG = Path(__file__).resolve().parents[3] / "data" / "GOOG.csv"


def parse(text: str, **kw):
    return parse_ohlcv_csv(io.StringIO(text), **kw)


def errors(text: str, **kw):
    with pytest.raises(CsvFormatError) as info:
        parse(text, **kw)
    return info.value


def test_goog_parses():
    bars = parse_ohlcv_csv(GOOG)
    assert len(bars) == 2148
    assert bars[0] == ParsedBar(
        ts=datetime(2004, 8, 19, tzinfo=UTC),
        open=Decimal("100"),
        high=Decimal("104.06"),
        low=Decimal("95.96"),
        close=Decimal("100.34"),
        volume=22351900,
    )
    assert bars[-1].ts == datetime(2013, 3, 1, tzinfo=UTC)
    assert all(a.ts < b.ts for a, b in itertools.pairwise(bars))
    assert all(isinstance(b.volume, int) for b in bars)


def test_goog_from_path_string_and_binary_file():
    assert len(parse_ohlcv_csv(str(GOOG))) == 2148
    with GOOG.open("rb") as f:
        assert len(parse_ohlcv_csv(f)) == 2148
        assert not f.closed  # the caller's file stays open
    assert len(parse_ohlcv_csv(io.BytesIO(b"\xef\xbb\xbf" + GOOG.read_bytes()))) == 2148


def test_letter_case_column_order_extra_columns():
    text = (
        "Date,VOLUME,close,Adj Close,low,High,OPEN\n"
        "2024-01-02,1000,101.5,99,99.5,102,100\n"
        "2024-01-01,2000,100,98,98,100.5,99\n"
    )
    bars = parse(text)
    assert [b.ts.day for b in bars] == [1, 2]  # sorted by time
    assert bars[1] == ParsedBar(
        datetime(2024, 1, 2, tzinfo=UTC),
        Decimal("100"),
        Decimal("102"),
        Decimal("99.5"),
        Decimal("101.5"),
        1000,
    )


def test_named_time_column_not_first():
    bars = parse("open,high,low,close,volume,timestamp\n1,2,0.5,1.5,7,2024-03-01T09:15:00Z\n")
    assert bars[0].ts == datetime(2024, 3, 1, 9, 15, tzinfo=UTC)


def test_datetimes_naive_and_with_offsets():
    text = (
        "datetime,open,high,low,close,volume\n"
        "2024-01-01T09:15:00+05:30,1,1,1,1,1\n"
        "2024-01-01 04:46:00,1,1,1,1,1\n"
        "2024-01-01T04:47:30.5Z,1,1,1,1,1\n"
        "2024-01-01T00:48:00-04:00,1,1,1,1,1\n"
    )
    assert [b.ts for b in parse(text)] == [
        datetime(2024, 1, 1, 3, 45, tzinfo=UTC),
        datetime(2024, 1, 1, 4, 46, tzinfo=UTC),
        datetime(2024, 1, 1, 4, 47, 30, 500000, tzinfo=UTC),
        datetime(2024, 1, 1, 4, 48, tzinfo=UTC),
    ]


def test_blank_lines_and_whitespace_are_tolerated():
    text = "\n,Open,High,Low,Close,Volume\n\n 2024-01-01 , 1 ,2, 0.5 ,1.5, 10 \n\n"
    assert parse(text)[0].volume == 10


def test_whole_volume_written_as_decimal():
    assert parse(",open,high,low,close,volume\n2024-01-01,1,1,1,1,1500.0\n")[0].volume == 1500


HEADER = ",Open,High,Low,Close,Volume\n"
GOOD = "2024-01-01,10,11,9,10.5,100\n"


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ("2024-01-02,abc,11,9,10,100", "Open is not a number"),
        ("2024-01-02,10,11,9,NaN,100", "Close is not a number"),
        ("2024-01-02,10,11,9,10", "Expected 6 columns, found 5"),
        ("2024-01-02,10,11,9,10,100,7", "Expected 6 columns, found 7"),
        ("2024-01-02,10,,9,10,100", "High is missing"),
        ("2024-01-02,10,8,9,8.5,100", "High (8) is below Low (9)"),
        ("2024-01-02,12,11,9,10,100", "High (11) is below Open (12)"),
        ("2024-01-02,10,11,9,11.5,100", "High (11) is below Close (11.5)"),
        ("2024-01-02,8,11,9,10,100", "Low (9) is above Open (8)"),
        ("2024-01-02,10,11,9,8.5,100", "Low (9) is above Close (8.5)"),
        ("2024-01-02,10,11,9,10,-1", "Volume must not be negative"),
        ("2024-01-02,10,11,9,10,1.5", "Volume must be a whole number"),
        ("2024-01-02,0,11,0,10,100", "Open must be positive"),
        ("2024-01-02,-1,11,9,10,100", "Open must be positive"),
        ("2024-13-02,10,11,9,10,100", "Invalid date '2024-13-02'"),
        ("yesterday,10,11,9,10,100", "Invalid date 'yesterday'"),
        (",10,11,9,10,100", "Invalid date '(empty)'"),
        (
            "2024-01-01,10,11,9,10,100",
            "Duplicate timestamp 2024-01-01T00:00:00+00:00 (first on line 2)",
        ),
        ("2024-01-01T05:30:00+05:30,10,11,9,10,100", "Duplicate timestamp"),
    ],
)
def test_malformed_row_reports_its_line(row, fragment):
    # Line 1 header, line 2 a good row, line 3 another good row, line 4 the bad one.
    text = HEADER + GOOD + "2024-01-03,10,11,9,10.5,100\n" + row + "\n" + "2024-01-05,1,1,1,1,1\n"
    err = errors(text)
    assert err.line_number == 4
    assert fragment in err.message
    assert err.errors[0] == (4, err.message)
    assert f"line 4: {fragment}" in str(err)


def test_line_numbers_count_blank_lines_and_multiline_fields():
    text = HEADER + "\n" + GOOD + '"2024-01-02",10,11,"9\n",10,100\n' + "2024-01-04,x,1,1,1,1\n"
    # The quoted "9\n" field spans lines 4-5 (and is still a valid number after stripping);
    # the bad row is on line 6.
    err = errors(text)
    assert err.errors == [(6, "Open is not a number: 'x'.")]


def test_all_errors_are_collected_in_order():
    text = HEADER + GOOD + "2024-01-02,a,11,9,10,100\n" + "2024-01-03,10,11,12,10,100\n" + GOOD
    err = errors(text)
    assert err.errors == [
        (3, "Open is not a number: 'a'."),
        (4, "High (11) is below Low (12)."),
        (5, "Duplicate timestamp 2024-01-01T00:00:00+00:00 (first on line 2)."),
    ]
    assert not err.truncated


def test_several_problems_on_one_row_are_all_reported():
    err = errors(HEADER + "not-a-date,x,y,-1,0,-5\n")
    assert len(err.errors) == 6
    assert {line for line, _ in err.errors} == {2}


def test_error_cap():
    text = HEADER + "".join(f"2024-01-{d:02d},x,1,1,1,1\n" for d in range(1, 31))
    err = errors(text)
    assert len(err.errors) == 20 and err.truncated
    assert [line for line, _ in err.errors] == list(range(2, 22))
    assert "more errors not shown" in str(err)
    assert len(errors(text, max_errors=3).errors) == 3


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        (HEADER, "no data rows"),
        ("Date,Open,High,Low,Close\n2024-01-01,1,1,1,1\n", "Missing column(s): Volume"),
        ("2024-01-01,1,1,1,1,1\n", "Missing column(s): Open, High, Low, Close, Volume"),
        ("Date,Open,open,High,Low,Close,Volume\n", "Duplicate column(s): open"),
        ("Open,High,Low,Close,Volume\n1,1,1,1,1\n", "first column must be the date"),
        ("Date,Time,Open,High,Low,Close,Volume\n", "More than one date/time column"),
    ],
)
def test_header_and_file_problems(text, fragment):
    err = errors(text)
    assert fragment in err.message
    assert err.line_number >= 1


def test_not_utf8():
    with pytest.raises(CsvFormatError) as info:
        parse_ohlcv_csv(io.BytesIO(HEADER.encode() + b"2024-01-01,\xff\xfe,1,1,1,1\n"))
    assert "UTF-8" in info.value.message
