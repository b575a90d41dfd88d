"""Dhan's instruments in our database: the scrip-master import, and symbol -> securityId.

- ``instruments_import_dhan`` upserts instruments from Dhan's scrip master with Dhan's
  ``securityId`` and ``exchangeSegment``; run it twice and the second run changes nothing.
  Dhan's tick and lot win (they are the exchange's), and every instrument whose stored tick or
  lot disagreed is named in the result, so a user sees what changed under a strategy.
- ``dhan_security_lookup`` answers the Dhan adapter's "which securityId is this symbol?", so a
  live deployment's orders carry the right id and segment.
- ``dhan_feed_instruments``: feed key -> instrument for the Dhan ticker (as
  ``ticker.broker_feed_instruments`` does for Kite).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog
from django.db import transaction

from execution.brokers.dhan_data import DhanMarketData, feed_key, scrip_specs
from execution.marketdata.exchanges import EXCHANGES, exchange_profile
from execution.models import DeploymentState, Feed, Instrument, LivePhase

log = structlog.get_logger(__name__)
_SYNCED = ("name", "tick_size", "lot_size", "dhan_security_id", "dhan_segment", "dhan_instrument")


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
    corrected: list[str] = []
    with transaction.atomic():
        existing = {
            (i.exchange, i.symbol): i
            for i in Instrument.objects.filter(exchange__in={s.exchange for s in specs})
        }
        new, changed = [], []
        for spec in specs:
            inst = existing.get((spec.exchange, spec.symbol))
            values = {
                "tick_size": spec.tick_size,
                "lot_size": spec.lot_size,
                "dhan_security_id": spec.security_id,
                "dhan_segment": spec.segment,
                "dhan_instrument": spec.instrument,
            }
            if inst is None:
                new.append(
                    Instrument(
                        exchange=spec.exchange,
                        symbol=spec.symbol,
                        name=spec.name,
                        currency=exchange_profile(spec.exchange).currency,
                        **values,
                    )
                )
                continue
            if not inst.name:
                values["name"] = spec.name
            for name in ("tick_size", "lot_size"):
                if getattr(inst, name) != values[name]:
                    corrected.append(
                        f"{inst} {name.split('_')[0]} {getattr(inst, name)}->{values[name]}"
                    )
            if any(getattr(inst, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(inst, k, v)
                changed.append(inst)
        made = Instrument.objects.bulk_create(new, batch_size=2000, ignore_conflicts=True)
        if changed:
            Instrument.objects.bulk_update(changed, list(_SYNCED), batch_size=2000)
    created, updated = len(made), len(changed)
    result = DhanInstrumentsImported(
        created, updated, len(specs) - created - updated, skipped, corrected
    )
    log.info(
        "dhan_instruments_imported", created=created, updated=updated, skipped=skipped,
        corrected=len(corrected),
    )  # fmt: skip
    return result


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
