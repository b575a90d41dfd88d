"""Manual orders on a basket deployment: routed to one member's engine and paper book.

A basket deployment holds one engine per member (``live_basket``); a manual order names its
member (``instrument``: the member's symbol, ``EXCHANGE:SYMBOL`` or instrument id) and is
placed, cancelled or modified through that member's engine only, so its risk gate, paper broker
and ledger are the member's. The others' engines are loaded as they are (their working orders
included) and saved back unchanged, so the next step carries on from the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algosaas.errors import DomainError
from execution.engine.runner import Engine
from execution.models import DeploymentState, Order
from execution.services import live_basket
from execution.services.live_basket_route import is_live, route_member_manual
from execution.services.live_persist import _ManualRun, _persist, _save_books


def _field_error(message: str) -> DomainError:
    return DomainError(message, fields={"instrument": [message]})


def member_index(members: list[dict[str, Any]], instrument: Any) -> int:
    """The index of the member ``instrument`` names (id, symbol or ``EXCHANGE:SYMBOL``).

    Anything else, or nothing, is a 400 naming ``instrument``: a basket's order must say which
    member it trades.
    """
    if instrument is None or str(instrument).strip() == "":
        raise _field_error("A basket's manual order must name one of its instruments.")
    ref = str(instrument).strip().upper()
    for n, inst in enumerate(members):
        if ref in (str(inst["id"]), inst["symbol"].upper(), f"{inst['exchange']}:{inst['symbol']}"):
            return n
    raise _field_error(f"{instrument} is not an instrument of this basket.")


def single_instrument_check(snap: dict[str, Any], instrument: Any) -> None:
    """On a one-instrument deployment ``instrument`` may be left out or name that instrument."""
    if instrument is None or str(instrument).strip() == "":
        return
    member_index([snap["instrument"]], instrument)


@dataclass
class MemberBook:
    """One member's engine among the basket's engines, for one manual call (caller's lock)."""

    live: DeploymentState
    engines: list[Engine]
    n: int

    @classmethod
    def open(cls, live: DeploymentState, instrument: Any) -> MemberBook:
        """The member named by ``instrument`` (400 naming the field if none)."""
        n = member_index(live_basket._members(live.deployment), instrument)
        return cls(live, live_basket._engines(live, trading=True), n)

    @classmethod
    def of_order(cls, live: DeploymentState, order: Order) -> MemberBook:
        """The member the (existing) ``order`` was placed on."""
        return cls.open(live, order.instrument_id)

    @property
    def engine(self) -> Engine:
        return self.engines[self.n]

    def feed_now(self, now_ts: int) -> int:
        """The basket clock's time at ``now_ts`` (``live._feed_now`` for a basket)."""
        return live_basket._feed_now_basket(self.live, now_ts)

    def save(self, records: list[Any], events: list[Any], *, source: str) -> dict[str, Order]:
        """Write the member's orders and events, every member's state and the changed records."""
        inst = live_basket._members(self.live.deployment)[self.n]
        rows = _persist(
            self.live.deployment,
            live_basket._ref(inst),
            _ManualRun(records, events, []),
            source=source,
        )
        if is_live(self.live):  # a live basket's manual order leaves for the broker now
            route_member_manual(self.live, inst, records, events)
        live_basket._save_state(self.live, self.engines)
        self.live.save(update_fields=["engine_state", "phase"])
        _save_books([(self.live, live_basket._changed(self.engines))])
        return rows
