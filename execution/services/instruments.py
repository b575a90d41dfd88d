"""One upsert for the instrument lists brokers publish (Kite's dump, Dhan's scrip master).

Both imports have the same shape: load what we hold on the listed exchanges (by exchange, not
by symbol: a real list has ~100k symbols, too many for an IN list), create what is new, update
what changed, leave the rest, and do it in bulk. What differs is which columns a broker owns,
so the caller names them: ``fields`` are overwritten on every run (the broker's tick, lot and
ids win: they are the exchange's), ``fill_blank`` are written only where we hold nothing (a
name the user or another broker gave stays).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from django.db import transaction

from execution.marketdata.exchanges import exchange_profile
from execution.models import Instrument

log = structlog.get_logger(__name__)
UPSERT_BATCH = 2000
_REPORTED = ("tick_size", "lot_size")  # a change of these moves prices/quantities under a strategy


def _shown(value: Any) -> str:
    """0.05, not the column's 0.05000000."""
    return f"{value.normalize():f}" if isinstance(value, Decimal) else str(value)


@dataclass(frozen=True, slots=True)
class InstrumentRow:
    """One listed instrument: its key and the broker's values (column -> value)."""

    exchange: str
    symbol: str
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InstrumentsUpserted:
    created: int
    updated: int
    unchanged: int
    corrected: list[str] = field(default_factory=list)  # "NSE:X tick 0.05->0.01" lines


def instruments_upsert(
    *, rows: Sequence[InstrumentRow], fields: Iterable[str], fill_blank: Iterable[str] = ()
) -> InstrumentsUpserted:
    """Create or update ``rows``' instruments in one transaction; a second run changes nothing.

    Every existing instrument whose tick or lot the broker changed is named in ``corrected``.
    A concurrent import may create some of the same instruments meanwhile: theirs stand, ours
    are skipped (not counted as created).
    """
    synced, blank_only = tuple(fields), tuple(fill_blank)
    corrected: list[str] = []
    with transaction.atomic():
        existing = {
            (i.exchange, i.symbol): i
            for i in Instrument.objects.filter(exchange__in={r.exchange for r in rows})
        }
        new, changed = [], []
        for row in rows:
            inst = existing.get((row.exchange, row.symbol))
            if inst is None:
                new.append(
                    Instrument(
                        exchange=row.exchange,
                        symbol=row.symbol,
                        currency=exchange_profile(row.exchange).currency,
                        **{k: row.values[k] for k in (*synced, *blank_only)},
                    )
                )
                continue
            values = {k: row.values[k] for k in synced}
            values.update({k: row.values[k] for k in blank_only if not getattr(inst, k)})
            corrected.extend(
                f"{inst} {name.split('_')[0]} {_shown(getattr(inst, name))}->{_shown(values[name])}"
                for name in _REPORTED
                if name in values and getattr(inst, name) != values[name]
            )
            if any(getattr(inst, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(inst, k, v)
                changed.append(inst)
        made = Instrument.objects.bulk_create(new, batch_size=UPSERT_BATCH, ignore_conflicts=True)
        if changed:
            Instrument.objects.bulk_update(changed, [*synced, *blank_only], batch_size=UPSERT_BATCH)
    created, updated = len(made), len(changed)
    return InstrumentsUpserted(created, updated, len(rows) - created - updated, corrected)
