"""The fake Dhan's market data: a scrip master in Dhan's CSV layout, and the chart history.

The master has the compact file's 16 columns (``api-scrip-master.csv``) and rows shaped like
Dhan's: real security ids of a few NSE/BSE stocks and indices, ticks in paise ("5.0000" is
₹0.05), lots as "1.0", derivatives with Dhan's trading symbols, a second series of one NSE
symbol (BE) and a row we cannot use (a tick of 0).

Charts (dhanhq.co/docs/v2/historical-data, and the ``dhanhq`` SDK's ``_historical_data.py``):
``POST /charts/intraday`` takes ``securityId``, ``exchangeSegment``, ``instrument``,
``interval`` (1, 5, 15, 25, 60), ``fromDate``/``toDate`` as ``YYYY-MM-DD HH:MM:SS`` IST and
refuses a span over 90 days; ``POST /charts/historical`` takes ``fromDate``/``toDate`` as
``YYYY-MM-DD`` with ``toDate`` not included. Both answer parallel arrays ``open``, ``high``,
``low``, ``close``, ``volume``, ``timestamp`` (epoch seconds; a day's is its IST midnight).
Candles a test put in ``FakeDhan.candles`` are served as given; otherwise, with
``FakeDhan.generated_history`` on, every weekday's session (09:15-15:30 IST) has candles made
from a hash of (security, interval, time), so a test can compute what a range should hold.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, datetime, timedelta, timezone

from tests.fakes.dhan.book import DhanError

IST = timezone(timedelta(hours=5, minutes=30))
COLUMNS = (
    "SEM_EXM_EXCH_ID", "SEM_SEGMENT", "SEM_SMST_SECURITY_ID", "SEM_INSTRUMENT_NAME",
    "SEM_EXPIRY_CODE", "SEM_TRADING_SYMBOL", "SEM_LOT_UNITS", "SEM_CUSTOM_SYMBOL",
    "SEM_EXPIRY_DATE", "SEM_STRIKE_PRICE", "SEM_OPTION_TYPE", "SEM_TICK_SIZE",
    "SEM_EXPIRY_FLAG", "SEM_EXCH_INSTRUMENT_TYPE", "SEM_SERIES", "SM_SYMBOL_NAME",
)  # fmt: skip
NO_EXPIRY = "1979-12-31 00:00:00"  # what the master writes for a cash instrument

# exch, segment, id, instrument, symbol, lot, custom, expiry, strike, opt, tick, type, series, name
ROWS = [
    ("NSE", "E", "1594", "EQUITY", "INFY", "1.0", "Infosys", "", "", "XX", "5.0000", "ES", "EQ",
     "INFOSYS LIMITED"),
    ("NSE", "E", "1333", "EQUITY", "HDFCBANK", "1.0", "HDFC Bank", "", "", "XX", "5.0000", "ES",
     "EQ", "HDFC BANK LTD"),
    ("NSE", "E", "2885", "EQUITY", "RELIANCE", "1.0", "Reliance Industries", "", "", "XX",
     "5.0000", "ES", "EQ", "RELIANCE INDUSTRIES LTD"),
    ("NSE", "E", "11915", "EQUITY", "YESBANK", "1.0", "Yes Bank", "", "", "XX", "1.0000", "ES",
     "EQ", "YES BANK LIMITED"),
    ("NSE", "E", "21915", "EQUITY", "YESBANK", "1.0", "Yes Bank", "", "", "XX", "1.0000", "ES",
     "BE", "YES BANK LIMITED"),
    ("BSE", "E", "500209", "EQUITY", "INFY", "1.0", "Infosys", "", "", "XX", "5.0000", "ES", "A",
     "INFOSYS LTD"),
    ("NSE", "I", "13", "INDEX", "NIFTY", "1.0", "Nifty 50", "", "", "XX", "0.0000", "INDEX", "X",
     "NIFTY"),
    ("NSE", "I", "25", "INDEX", "BANKNIFTY", "1.0", "Nifty Bank", "", "", "XX", "0.0000",
     "INDEX", "X", "BANKNIFTY"),
    ("NSE", "D", "35001", "FUTIDX", "NIFTY-Dec2026-FUT", "75.0", "NIFTY DEC FUT",
     "2026-12-29 14:30:00", "-0.01000", "XX", "10.0000", "FUTIDX", "NA", "NIFTY"),
    ("NSE", "D", "40123", "OPTIDX", "NIFTY-Dec2026-24000-CE", "75.0", "NIFTY 29 DEC 24000 CALL",
     "2026-12-29 14:30:00", "24000.00000", "CE", "5.0000", "OPTIDX", "NA", "NIFTY"),
    ("MCX", "M", "440001", "FUTCOM", "CRUDEOIL-Dec2026-FUT", "100.0", "CRUDEOIL DEC FUT",
     "2026-12-17 23:30:00", "-0.01000", "XX", "100.0000", "FUTCOM", "NA", "CRUDEOIL"),
    ("NSE", "E", "99999", "EQUITY", "BROKENTICK", "1.0", "Broken", "", "", "XX", "0.0000", "ES",
     "EQ", "BROKEN"),
]  # fmt: skip


def scrip_rows() -> list[dict[str, str]]:
    out = []
    for r in ROWS:
        exch, seg, sid, inst, sym, lot, custom, expiry, strike, opt, tick, typ, series, name = r
        out.append(dict(zip(COLUMNS, (exch, seg, sid, inst, "0", sym, lot, custom,
                                      expiry or NO_EXPIRY, strike or "0.00000", opt, tick,
                                      "M" if expiry else "NA", typ, series, name),
                            strict=True)))  # fmt: skip
    return out


def scrip_master_csv() -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(scrip_rows())
    return buf.getvalue()


INTERVALS = ("1", "5", "15", "25", "60")
CHART_DAYS = 90


def _bad(message: str) -> DhanError:
    return DhanError(400, "Input_Exception", "DH-905", message)


def _h(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


def generated_candle(sid: str, interval: str, epoch: int) -> tuple:
    """``(epoch, o, h, l, c, volume)`` on a 0.05 tick: open is the previous bucket's close."""

    def level(k: int) -> float:
        return round(1000 + int(sid) % 2000 + 0.05 * ((_h(sid, interval, k) % 81) - 40), 2)

    step = 86400 if interval == "D" else int(interval) * 60
    o, c = level(epoch - step), level(epoch)
    spread = _h(sid, interval, epoch, "s")
    hi = round(max(o, c) + 0.05 * (spread % 5), 2)
    lo = round(min(o, c) - 0.05 * ((spread >> 8) % 5), 2)
    return (epoch, o, hi, lo, c, 100 + _h(sid, interval, epoch, "v") % 9000)


def session_opens(day: date, interval: str) -> list[int]:
    """Epochs of a weekday's candle opens (the IST midnight for a daily candle)."""
    if day.weekday() >= 5:
        return []
    midnight = datetime(day.year, day.month, day.day, tzinfo=IST)
    if interval == "D":
        return [int(midnight.timestamp())]
    t, close = midnight.replace(hour=9, minute=15), midnight.replace(hour=15, minute=30)
    opens = []
    while t < close:
        opens.append(int(t.timestamp()))
        t += timedelta(minutes=int(interval))
    return opens


def generated(sid: str, interval: str, frm: datetime, to: datetime) -> list[tuple]:
    """Every session candle opening in ``[frm, to]`` (aware)."""
    out, day = [], frm.astimezone(IST).date()
    while day <= to.astimezone(IST).date():
        out += [generated_candle(sid, interval, e) for e in session_opens(day, interval)
                if frm.timestamp() <= e <= to.timestamp()]  # fmt: skip
        day += timedelta(days=1)
    return out


def _arrays(rows: list[tuple]) -> dict:
    names = ("timestamp", "open", "high", "low", "close", "volume")
    return {n: [row[i] for row in sorted(rows)] for i, n in enumerate(names)}


def _body_key(body: dict) -> tuple[str, str]:
    for name in ("securityId", "exchangeSegment", "instrument", "fromDate", "toDate"):
        if not body.get(name):
            raise _bad(f"Missing required field: {name}")
    return (body["exchangeSegment"], str(body["securityId"]))


def _when(value: str, fmt: str) -> datetime:
    try:
        return datetime.strptime(value, fmt).replace(tzinfo=IST)
    except (TypeError, ValueError):
        raise _bad(f"Invalid date: {value!r}") from None


def intraday(candles: dict, body: dict, *, generate: bool = False, known=None) -> dict:
    """``POST /charts/intraday``: candles of one instrument between IST from/to (inclusive)."""
    key = _body_key(body)
    if str(body.get("interval", "1")) not in INTERVALS:
        raise _bad(f"Invalid interval: {body.get('interval')!r}")
    frm = _when(body["fromDate"], "%Y-%m-%d %H:%M:%S")
    to = _when(body["toDate"], "%Y-%m-%d %H:%M:%S")
    if to < frm:
        raise _bad("fromDate is after toDate")
    if to - frm > timedelta(days=CHART_DAYS):
        raise _bad(f"Intraday data can be fetched for at most {CHART_DAYS} days per request")
    if key in candles:
        return _arrays([c for c in candles[key] if frm.timestamp() <= c[0] <= to.timestamp()])
    if generate and (known is None or key[1] in known):
        return _arrays(generated(key[1], str(body.get("interval", "1")), frm, to))
    if generate:
        raise _bad(f"Invalid securityId: {key[1]}")
    return _arrays([])


def historical(candles: dict, body: dict, *, generate: bool = False, known=None) -> dict:
    """``POST /charts/historical``: daily candles from ``fromDate`` up to (not incl.) ``toDate``."""
    key = _body_key(body)
    frm = _when(body["fromDate"], "%Y-%m-%d")
    to = _when(body["toDate"], "%Y-%m-%d")
    if to <= frm:
        raise _bad("toDate must be after fromDate")
    last = to - timedelta(seconds=1)  # toDate is not included
    if key in candles:
        return _arrays([c for c in candles[key] if frm.timestamp() <= c[0] <= last.timestamp()])
    if generate and (known is None or key[1] in known):
        return _arrays(generated(key[1], "D", frm, last))
    if generate:
        raise _bad(f"Invalid securityId: {key[1]}")
    return _arrays([])
