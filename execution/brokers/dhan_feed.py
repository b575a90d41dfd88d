"""Dhan's Live Market Feed (v2): the subscribe messages we send and the binary packets we read.

From DhanHQ v2's "Live Market Feed" docs and the ``dhanhq`` SDK's ``live_market_feed.py``:

- connect to ``wss://api-feed.dhan.co?version=2&token=<access token>&clientId=<id>&authType=2``;
- subscribe with JSON text ``{"RequestCode": 15|17|21, "InstrumentCount": n,
  "InstrumentList": [{"ExchangeSegment": "NSE_EQ", "SecurityId": "1333"}, ...]}`` (ticker,
  quote, full; at most 100 instruments a message); ``{"RequestCode": 12}`` disconnects;
- every answer is binary, little-endian: an 8-byte header (response code ``B``, message length
  ``H``, exchange segment ``B``, security id ``I``) then the packet: ticker (2) LTP ``f`` and
  last trade time ``I``; quote (4) LTP, last qty ``H``, LTT, average price, the day's volume
  ``I``, total sell/buy qty, day open/close/high/low ``f``; full (8) as quote plus OI and five
  depth levels; previous close (6), OI (5), market status (7); disconnect (50) carries a
  reason code ``H`` (805 too many connections, 806 no data plan, 807 token expired, 808 bad
  client id, 809 authentication failed).

Dhan's last trade time is the IST wall clock counted as if it were UTC (the SDK formats it with
``utcfromtimestamp`` to show IST): we subtract 5h30 to get a real epoch. Plain Python.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from decimal import Decimal

from execution.brokers.dhan_data import FEED_SEGMENT_NAMES

TICKER, QUOTE, FULL, DISCONNECT_REQUEST = 15, 17, 21, 12
RESP_TICKER, RESP_OI, RESP_PREV_CLOSE, RESP_STATUS = 2, 5, 6, 7
RESP_QUOTE, RESP_FULL, RESP_DISCONNECT = 4, 8, 50
IST_OFFSET = 19_800  # seconds: Dhan's LTT is IST wall-clock seconds
MAX_PER_MESSAGE = 100

HEADER = struct.Struct("<BHBI")
TICKER_BODY = struct.Struct("<fI")
QUOTE_BODY = struct.Struct("<fHIfIIIffff")
FULL_BODY = struct.Struct("<fHIfIIIIIIffff")
DISCONNECT_REASONS = {
    805: "too many active connections",
    806: "no data plan: subscribe to Dhan's data APIs",
    807: "access token expired",
    808: "invalid client id",
    809: "authentication failed",
}


class FeedDisconnected(Exception):
    """Dhan sent a disconnect packet (code 50): ``reason`` says why."""

    def __init__(self, code: int):
        self.code = code
        super().__init__(f"Dhan feed disconnected ({code}): {DISCONNECT_REASONS.get(code, '?')}")


@dataclass(frozen=True, slots=True)
class FeedTick:
    """One ticker/quote/full packet: a trade's price, when, and (quote/full) the day's volume."""

    segment: str
    security_id: int
    price: Decimal
    ts: int  # real epoch seconds
    day_volume: int | None = None


def subscribe_messages(instruments: list[tuple[str, int]], request_code: int = QUOTE) -> list[str]:
    """JSON subscribe requests for ``(segment, security_id)`` pairs, 100 per message."""
    out = []
    for i in range(0, len(instruments), MAX_PER_MESSAGE):
        batch = instruments[i : i + MAX_PER_MESSAGE]
        out.append(
            json.dumps(
                {
                    "RequestCode": request_code,
                    "InstrumentCount": len(batch),
                    "InstrumentList": [
                        {"ExchangeSegment": seg, "SecurityId": str(sid)} for seg, sid in batch
                    ],
                }
            )
        )
    return out


def _price(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")  # float32 on the wire: prices have two places


def parse_packet(data: bytes) -> FeedTick | None:
    """One binary message: a tick (ticker, quote, full), None for anything else we ignore.

    Raises ``FeedDisconnected`` for a disconnect packet and ``ValueError`` for a short one.
    """
    if len(data) < HEADER.size:
        raise ValueError(f"Dhan feed packet of {len(data)} bytes: shorter than its header")
    code, _length, segment_code, sid = HEADER.unpack_from(data)
    if code == RESP_DISCONNECT:
        reason = struct.unpack_from("<H", data, HEADER.size)[0] if len(data) >= 10 else 0
        raise FeedDisconnected(reason)
    body = {RESP_TICKER: TICKER_BODY, RESP_QUOTE: QUOTE_BODY, RESP_FULL: FULL_BODY}.get(code)
    if body is None:
        return None
    if len(data) < HEADER.size + body.size:
        raise ValueError(f"Dhan feed packet {code} of {len(data)} bytes is truncated")
    fields = body.unpack_from(data, HEADER.size)
    segment = FEED_SEGMENT_NAMES.get(segment_code, str(segment_code))
    if code == RESP_TICKER:
        ltp, ltt = fields
        volume = None
    else:
        ltp, _qty, ltt, _avg, volume = fields[:5]
        if segment == "IDX_I":
            volume = None  # an index trades no volume: its bars are built from prices alone
    return FeedTick(segment, sid, _price(ltp), int(ltt) - IST_OFFSET, volume)
