"""Dhan's instruments in our database: the scrip-master import, and symbol -> securityId.

- ``instruments_import_dhan`` upserts instruments from Dhan's scrip master with Dhan's
  ``securityId`` and ``exchangeSegment``; run it twice and the second run changes nothing.
  Dhan's tick and lot win (they are the exchange's), and every instrument whose stored tick or
  lot disagreed is named in the result, so a user sees what changed under a strategy.
- ``bars_import_dhan`` stores Dhan's chart candles (``import_bars --from dhan``), each bar once,
  as ``bars_import_kite`` does Kite's.
- ``dhan_security_lookup`` answers the Dhan adapter's "which securityId is this symbol?", so a
  live deployment's orders carry the right id and segment.
- ``dhan_feed_instruments``: feed key -> instrument for the Dhan ticker (as
  ``ticker.broker_feed_instruments`` does for Kite).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from execution.brokers.dhan_data import DhanMarketData, feed_key, scrip_specs
from execution.marketdata.exchanges import EXCHANGES
from execution.models import DeploymentState, Feed, Instrument, LivePhase
from execution.services.broker_data import bars_import_pages
from execution.services.instruments import InstrumentRow, instruments_upsert
from execution.services.marketdata import BarsImported

log = structlog.get_logger(__name__)
_SYNCED = ("tick_size", "lot_size", "dhan_security_id", "dhan_segment", "dhan_instrument")


@dataclass(frozen=True, slots=True)
class DhanInstrumentsImported:
    created: int
    updated: int
    unchanged: int
    skipped: int
    corrected: list[str] = field(default_factory=list)  # "NSE:X tick 0.05->0.01" lines


def instruments_import_dhan(
    *, data: DhanMarketData, exchanges: Iterable[str] | None = None
) -> DhanInstrumentsImported:
    """Upsert instruments from Dhan's scrip master (every exchange we know, or ``exchanges``)."""
    wanted = {e.upper() for e in exchanges} if exchanges else set(EXCHANGES) - {"SYNTH"}
    specs, skipped = scrip_specs(data.scrip_master(), wanted)
    listed = [
        InstrumentRow(
            s.exchange,
            s.symbol,
            {
                "name": s.name,
                "tick_size": s.tick_size,
                "lot_size": s.lot_size,
                "dhan_security_id": s.security_id,
                "dhan_segment": s.segment,
                "dhan_instrument": s.instrument,
            },
        )
        for s in specs
    ]
    # the name only where we hold none: Kite's (or the user's) stays
    done = instruments_upsert(rows=listed, fields=_SYNCED, fill_blank=("name",))
    result = DhanInstrumentsImported(
        done.created, done.updated, done.unchanged, skipped, done.corrected
    )
    log.info(
        "dhan_instruments_imported", created=done.created, updated=done.updated,
        skipped=skipped, corrected=len(done.corrected),
    )  # fmt: skip
    return result


class NoDhanSecurity(ValueError):
    """The instrument has no Dhan securityId: import Dhan's scrip master first."""


def bars_import_dhan(
    *,
    data: DhanMarketData,
    instrument: Instrument,
    timeframe: str,
    start: datetime,
    end: datetime,
) -> BarsImported:
    """Store Dhan's candles of ``instrument`` opening in ``[start, end]``, page by page.

    Raises ``NoDhanSecurity`` before any request for an instrument without Dhan's id and
    segment, ``ValueError`` for a timeframe Dhan has no candles for.
    """
    key = instrument_feed_key(instrument)
    if key is None:
        raise NoDhanSecurity(
            f"{instrument} has no Dhan securityId; run import_instruments --from dhan."
        )
    pages = data.candle_pages(
        token=key,
        timeframe=timeframe,
        start=start,
        end=end,
        instrument=instrument.dhan_instrument or None,
    )
    return bars_import_pages(instrument=instrument, timeframe=timeframe, pages=pages)


def dhan_security_lookup(symbol: str, default_exchange: str = "NSE") -> tuple[str, str] | None:
    """Dhan's ``(securityId, exchangeSegment)`` for "INFY" / "BSE:INFY", or None if unknown."""
    exchange, _, sym = symbol.upper().rpartition(":")
    row = (
        Instrument.objects.filter(
            exchange=exchange or default_exchange, symbol=sym, dhan_security_id__isnull=False
        )
        .values_list("dhan_security_id", "dhan_segment")
        .first()
    )
    if row is None or not row[1]:
        return None
    return str(row[0]), row[1]


def instrument_feed_key(instrument: Instrument) -> int | None:
    if instrument.dhan_security_id is None or not instrument.dhan_segment:
        return None
    return feed_key(instrument.dhan_segment, instrument.dhan_security_id)


def dhan_feed_instruments(extra: Iterable[Instrument] = ()) -> dict[int, Instrument]:
    """Feed key -> instrument, for every running broker-feed deployment and ``extra``."""
    ids = set()
    lives = DeploymentState.objects.filter(feed=Feed.BROKER).exclude(phase=LivePhase.DONE)
    for config in lives.values_list("deployment__config", flat=True):
        ids.add(config["instrument"]["id"])
    found: dict[int, Instrument] = {}
    for inst in [*Instrument.objects.filter(pk__in=ids), *extra]:
        key = instrument_feed_key(inst)
        if key is not None:
            found[key] = inst
    return found
