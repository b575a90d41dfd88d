"""``feed: "broker"``: a deployment stepping on the one-minute bars the broker's ticker stores.

``run_ticker`` writes the minutes (``execution.services.ticker``); this reads them for a step,
grouped into the deployment's timeframe by ``BrokerSource``. Deploying on this feed needs an
instrument with a Kite token or a Dhan security id (``import_instruments --from kite|dhan``),
else the deploy is refused naming the feed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from algosaas.errors import DomainError
from execution.engine.bars import BarSeries
from execution.engine.session import SessionCalendar
from execution.marketdata.sources import BrokerSource
from execution.models import Instrument
from execution.selectors import bar_series


def broker_source(
    snap: dict[str, Any], interval: int, calendar: SessionCalendar | None = None
) -> BrokerSource:
    """The broker feed of the deployment's instrument (``calendar``: kept for the engine)."""
    instrument = Instrument.objects.filter(pk=snap["instrument"]["id"]).first()
    if instrument is None or (
        instrument.kite_token is None and instrument.dhan_security_id is None
    ):
        raise DomainError(
            "This instrument has no broker feed: import it from the broker first.",
            fields={"feed": ["No broker instrument token for this instrument."]},
        )

    def load(start_ts: int, end_ts: int) -> BarSeries:
        return bar_series(
            instrument=instrument,
            timeframe="1m",
            start=datetime.fromtimestamp(start_ts, tz=UTC),
            end=datetime.fromtimestamp(end_ts, tz=UTC),
        )

    return BrokerSource(load=load, interval_s=interval)
