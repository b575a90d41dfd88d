"""The fake Kite's market data: the instrument dump (CSV) and deterministic historical candles.

Shapes follow Kite Connect v3's docs: ``GET /instruments`` answers a CSV with the columns
``instrument_token, exchange_token, tradingsymbol, name, last_price, expiry, strike, tick_size,
lot_size, instrument_type, segment, exchange``; an instrument token is the exchange token
shifted left 8 bits plus the segment id (the ticker divides prices by the segment: CDS by 1e7);
indices have tick and lot 0. ``GET /instruments/historical/{token}/{interval}?from=&to=``
answers ``{"candles": [[ts+0530, o, h, l, c, v], ...]}`` for the session's candles (09:15-15:30
IST, weekdays), and refuses a span longer than the interval's documented limit the way Kite
does (``InputException``). Every candle is a pure function of token, interval and open time,
so a test can compute what must have been stored.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from tests.fakes.kite.book import KiteError

IST = timezone(timedelta(hours=5, minutes=30))
SEGMENT_IDS = {"NSE": 1, "NFO": 2, "CDS": 3, "BSE": 4, "BFO": 5, "BCD": 6, "MCX": 7, "INDICES": 9}
# Kite's documented span of one historical request, in days, per interval.
DAY_LIMITS = {
    "minute": 60,
    "3minute": 100,
    "5minute": 100,
    "10minute": 100,
    "15minute": 200,
    "30minute": 200,
    "60minute": 400,
    "day": 2000,
}
INTERVAL_SECONDS = {
    "minute": 60,
    "3minute": 180,
    "5minute": 300,
    "10minute": 600,
    "15minute": 900,
    "30minute": 1800,
    "60minute": 3600,
}
COLUMNS = [
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
]

# (symbol, name, exchange token): a slice of NSE's cash market with the real tokens of a few.
_EQUITIES = [
    ("INFY", "INFOSYS", 1594),
    ("RELIANCE", "RELIANCE INDUSTRIES", 2885),
    ("TCS", "TATA CONSULTANCY SERV LT", 11536),
    ("HDFCBANK", "HDFC BANK", 1333),
    ("ICICIBANK", "ICICI BANK.", 4963),
    ("SBIN", "STATE BANK OF INDIA", 3045),
    ("ITC", "ITC", 1660),
    ("LT", "LARSEN & TOUBRO.", 11483),
    ("AXISBANK", "AXIS BANK", 5900),
    ("WIPRO", "WIPRO", 3787),
    ("BAJFINANCE", "BAJAJ FINANCE", 317),
    ("MARUTI", "MARUTI SUZUKI INDIA.", 10999),
    ("SUNPHARMA", "SUN PHARMACEUTICAL IND L", 3351),
    ("TATASTEEL", "TATA STEEL", 3499),
    ("NTPC", "NTPC", 11630),
    ("ONGC", "OIL AND NATURAL GAS CORP.", 2475),
    ("POWERGRID", "POWER GRID CORP. LTD.", 14977),
    ("COALINDIA", "COAL INDIA", 20374),
    ("BHARTIARTL", "BHARTI AIRTEL", 10604),
    ("KOTAKBANK", "KOTAK MAHINDRA BANK", 1922),
    ("HINDUNILVR", "HINDUSTAN UNILEVER.", 1394),
    ("ASIANPAINT", "ASIAN PAINTS", 236),
    ("TITAN", "TITAN COMPANY", 3506),
    ("ULTRACEMCO", "ULTRATECH CEMENT", 11532),
    ("NESTLEIND", "NESTLE INDIA", 17963),
    ("YESBANK", "YES BANK", 11915),
    ("IDEA", "VODAFONE IDEA", 14366),
    ("SUZLON", "SUZLON ENERGY", 12018),
]
# Low-priced stocks tick at 0.01 on NSE since 2025; most still at 0.05.
_PENNY = {"YESBANK", "IDEA", "SUZLON"}
_NFO_EXPIRIES = [date(2026, 12, 29), date(2027, 1, 26)]


def instrument_token(exchange_token: int, segment: str) -> int:
    return (exchange_token << 8) + SEGMENT_IDS[segment.split("-")[0]]


@dataclass(frozen=True)
class DumpRow:
    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    expiry: str
    strike: float
    tick_size: float
    lot_size: int
    instrument_type: str
    segment: str
    exchange: str

    def as_csv(self) -> list[str]:
        return [
            str(self.instrument_token),
            str(self.exchange_token),
            self.tradingsymbol,
            self.name,
            "0.0",
            self.expiry,
            f"{self.strike:g}" if self.strike else "0.0",
            f"{self.tick_size:g}" if self.tick_size else "0.0",
            str(self.lot_size),
            self.instrument_type,
            self.segment,
            self.exchange,
        ]


def _row(et: int, sym: str, name: str, tick: float, lot: int, itype: str, seg: str, exch: str,
         expiry: str = "", strike: float = 0.0) -> DumpRow:  # fmt: skip
    return DumpRow(instrument_token(et, seg), et, sym, name, expiry, strike, tick, lot, itype,
                   seg, exch)  # fmt: skip


def dump_rows() -> list[DumpRow]:
    """A few hundred rows: NSE and BSE equities, two indices, NIFTY futures and options, a
    currency future, a commodity future, and rows of a segment we do not trade (BCD)."""
    rows = [
        _row(256265 >> 8, "NIFTY 50", "NIFTY 50", 0, 0, "EQ", "INDICES", "NSE"),
        _row(260105 >> 8, "NIFTY BANK", "NIFTY BANK", 0, 0, "EQ", "INDICES", "NSE"),
    ]
    for sym, name, et in _EQUITIES:
        tick = 0.01 if sym in _PENNY else 0.05
        rows.append(_row(et, sym, name, tick, 1, "EQ", "NSE", "NSE"))
        rows.append(_row(500000 + et, sym, name, tick, 1, "EQ", "BSE", "BSE"))
    for i in range(120):  # the long tail of the cash market
        rows.append(_row(30000 + i, f"SME{i:03d}-SM", f"SME COMPANY {i}", 0.05, 1, "EQ", "NSE",
                         "NSE"))  # fmt: skip
    et = 40000
    for expiry in _NFO_EXPIRIES:
        tag = expiry.strftime("%y%b").upper()
        et += 1
        rows.append(_row(et, f"NIFTY{tag}FUT", "NIFTY", 0.05, 75, "FUT", "NFO-FUT", "NFO",
                         expiry.isoformat()))  # fmt: skip
        et += 1
        rows.append(_row(et, f"BANKNIFTY{tag}FUT", "BANKNIFTY", 0.05, 35, "FUT", "NFO-FUT",
                         "NFO", expiry.isoformat()))  # fmt: skip
        for strike in range(23000, 27000, 100):
            for kind in ("CE", "PE"):
                et += 1
                rows.append(_row(et, f"NIFTY{tag}{strike}{kind}", "NIFTY", 0.05, 75, kind,
                                 "NFO-OPT", "NFO", expiry.isoformat(), float(strike)))  # fmt: skip
    rows.append(_row(1001, "USDINR26DECFUT", "USDINR", 0.0025, 1, "FUT", "CDS-FUT", "CDS",
                     "2026-12-29"))  # fmt: skip
    rows.append(_row(2001, "CRUDEOIL26DECFUT", "CRUDEOIL", 1.0, 100, "FUT", "MCX-FUT", "MCX",
                     "2026-12-18"))  # fmt: skip
    rows.append(_row(3001, "USDINR26DEC", "USDINR", 0.0025, 1, "FUT", "BCD-FUT", "BCD",
                     "2026-12-29"))  # fmt: skip
    return rows


def dump_csv(rows: list[DumpRow] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows if rows is not None else dump_rows():
        writer.writerow(row.as_csv())
    return out.getvalue().encode()


# ---------------------------------------------------------------------- candles


def _h(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


def _level(token: int, interval: str, k: int, tick: float) -> float:
    base = 1000 + token % 2000
    return round(base + tick * ((_h(token, interval, k) % 81) - 40), 4)


def candle(token: int, interval: str, open_ist: datetime, tick: float = 0.05) -> list:
    """One candle ``[ts, o, h, l, c, v]``: open is the previous bucket's close."""
    k = int(open_ist.replace(tzinfo=UTC).timestamp())
    step = INTERVAL_SECONDS.get(interval, 86400)
    o = _level(token, interval, k - step, tick)
    c = _level(token, interval, k, tick)
    spread = _h(token, interval, k, "s")
    hi = round(max(o, c) + tick * (spread % 5), 4)
    lo = round(min(o, c) - tick * ((spread >> 8) % 5), 4)
    volume = 100 + _h(token, interval, k, "v") % 9000
    return [open_ist.strftime("%Y-%m-%dT%H:%M:%S+0530"), o, hi, lo, c, volume]


def _session_opens(day: date, interval: str, all_hours: bool) -> list[datetime]:
    if day.weekday() >= 5 and not all_hours:
        return []
    if interval == "day":
        return [datetime(day.year, day.month, day.day)]
    step = timedelta(seconds=INTERVAL_SECONDS[interval])
    t = datetime.combine(day, datetime.min.time())
    if all_hours:  # a market open around the clock (ticker tests run at any hour)
        close = t + timedelta(days=1)
    else:
        t = t.replace(hour=9, minute=15)
        close = t.replace(hour=15, minute=30)
    opens = []
    while t < close:
        opens.append(t)
        t += step
    return opens


def candles(
    token: int,
    interval: str,
    start: str,
    end: str,
    tick: float = 0.05,
    all_hours: bool = False,
    check_limit: bool = True,  # False: what a test expects over a longer range
) -> list[list]:
    """Kite's answer for ``from``/``to`` (IST wall clock, both inclusive), or its refusal."""
    if interval not in DAY_LIMITS:
        raise KiteError(400, "InputException", "invalid interval")
    try:
        frm = datetime.strptime(start, "%Y-%m-%d %H:%M:%S")
        to = datetime.strptime(end, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise KiteError(400, "InputException", "invalid from/to date") from None
    if to < frm:
        raise KiteError(400, "InputException", "invalid from date: from is after to")
    if check_limit and (to - frm).days > DAY_LIMITS[interval]:
        raise KiteError(400, "InputException", "interval exceeds max limit: "
                        f"{DAY_LIMITS[interval]} days")  # fmt: skip
    out = []
    day = frm.date()
    while day <= to.date():
        for t in _session_opens(day, interval, all_hours):
            if frm <= t <= to:
                out.append(candle(token, interval, t, tick))
        day += timedelta(days=1)
    return out
