"""The fake Dhan's market data: a scrip master in Dhan's CSV layout, and intraday charts.

The master has the compact file's 16 columns (``api-scrip-master.csv``) and rows shaped like
Dhan's: real security ids of a few NSE/BSE stocks and indices, ticks in paise ("5.0000" is
₹0.05), lots as "1.0", derivatives with Dhan's trading symbols, a second series of one NSE
symbol (BE) and a row we cannot use (a tick of 0).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

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


def intraday(candles: dict, body: dict) -> dict:
    """``POST /charts/intraday``: minute candles of one instrument between IST from/to."""
    key = (body.get("exchangeSegment"), str(body.get("securityId")))
    frm = datetime.strptime(body["fromDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
    to = datetime.strptime(body["toDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
    rows = [c for c in candles.get(key, []) if frm.timestamp() <= c[0] <= to.timestamp()]
    names = ("timestamp", "open", "high", "low", "close", "volume")
    return {n: [row[i] for row in sorted(rows)] for i, n in enumerate(names)}
