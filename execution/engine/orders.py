"""The order vocabulary and THE order state machine (ARCHITECTURE §3, §4; STYLE 5-6).

``ORDER_TRANSITIONS`` maps ``(status, trigger) -> next status``. The paper broker, the engine and
the Django order service all move an order only through ``order_next_status``; any pair missing
from the table raises ``InvalidOrderTransition`` (the service turns it into HTTP 409 with the
current status). A terminal status never changes again.

Triggers deliberately allow a broker report to skip a state (a real broker may report a market
order ``COMPLETE`` without ever telling us it was ``OPEN``), so fills are accepted from every
working status.
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    """Our canonical order status; each broker's own status is kept beside it as ``raw_status``."""

    PENDING = "PENDING"  # sent, the broker has not answered yet
    OPEN = "OPEN"  # working at the broker
    TRIGGER_PENDING = "TRIGGER_PENDING"  # SL / SL-M waiting for its trigger price
    PARTIALLY_FILLED = "PARTIALLY_FILLED"  # working, some quantity already filled
    COMPLETE = "COMPLETE"  # filled in full
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"  # refused by the broker (lot/tick size, funds, ...)
    EXPIRED = "EXPIRED"  # DAY / IOC remainder that did not fill in time
    DENIED = "DENIED"  # refused by our own risk gate; no broker ever saw it


class OrderTrigger(StrEnum):
    """What happened to an order: the events that move it through ``ORDER_TRANSITIONS``."""

    ACCEPT = "ACCEPT"  # the broker accepted a MARKET/LIMIT order (or a triggered stop)
    ACCEPT_STOP = "ACCEPT_STOP"  # the broker accepted an SL/SL-M order; it waits for its trigger
    TRIGGER = "TRIGGER"  # the trigger price traded; the stop now works as LIMIT/MARKET
    FILL_PARTIAL = "FILL_PARTIAL"  # part of the remaining quantity filled
    FILL = "FILL"  # the last of the quantity filled
    MODIFY = "MODIFY"  # quantity / price / trigger changed; status unchanged
    CANCEL = "CANCEL"
    REJECT = "REJECT"
    EXPIRE = "EXPIRE"


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"  # stop-loss limit: once triggered, works as a LIMIT order at ``price``
    SLM = "SL-M"  # stop-loss market: once triggered, works as a MARKET order


class Product(StrEnum):
    CNC = "CNC"  # delivery: no short selling on NSE/BSE
    MIS = "MIS"  # intraday: shorts allowed
    NRML = "NRML"  # carry-forward derivatives (a real broker's product; the paper broker: as MIS)


class Validity(StrEnum):
    DAY = "DAY"  # works until the end of the trading session
    IOC = "IOC"  # whatever does not fill on the first bar it meets expires


S = OrderStatus
T = OrderTrigger

TERMINAL_STATUSES: frozenset[OrderStatus] = frozenset(
    {S.COMPLETE, S.CANCELLED, S.REJECTED, S.EXPIRED, S.DENIED}
)
WORKING_STATUSES: frozenset[OrderStatus] = frozenset(
    {S.PENDING, S.OPEN, S.TRIGGER_PENDING, S.PARTIALLY_FILLED}
)
# An order is born in one of these; DENIED is reachable only at creation, never by a trigger.
INITIAL_STATUSES: frozenset[OrderStatus] = frozenset({S.PENDING, S.DENIED})


def _build_table() -> dict[tuple[OrderStatus, OrderTrigger], OrderStatus]:
    table: dict[tuple[OrderStatus, OrderTrigger], OrderStatus] = {
        (S.PENDING, T.ACCEPT): S.OPEN,
        (S.PENDING, T.ACCEPT_STOP): S.TRIGGER_PENDING,
        (S.TRIGGER_PENDING, T.TRIGGER): S.OPEN,
        (S.OPEN, T.MODIFY): S.OPEN,
        (S.TRIGGER_PENDING, T.MODIFY): S.TRIGGER_PENDING,
        (S.PARTIALLY_FILLED, T.MODIFY): S.PARTIALLY_FILLED,
    }
    for status in WORKING_STATUSES:
        table[(status, T.FILL_PARTIAL)] = S.PARTIALLY_FILLED
        table[(status, T.FILL)] = S.COMPLETE
        table[(status, T.CANCEL)] = S.CANCELLED
        table[(status, T.REJECT)] = S.REJECTED
        table[(status, T.EXPIRE)] = S.EXPIRED
    return table


ORDER_TRANSITIONS: dict[tuple[OrderStatus, OrderTrigger], OrderStatus] = _build_table()


class InvalidOrderTransition(Exception):
    """Raised when a trigger is not allowed from an order's current status (HTTP 409)."""

    def __init__(self, status: OrderStatus | str, trigger: OrderTrigger | str):
        self.status = OrderStatus(status)
        self.trigger = OrderTrigger(trigger)
        super().__init__(f"cannot {self.trigger.value} an order that is {self.status.value}")


def order_next_status(status: OrderStatus | str, trigger: OrderTrigger | str) -> OrderStatus:
    """Return the status an order moves to on ``trigger``, or raise ``InvalidOrderTransition``."""
    try:
        return ORDER_TRANSITIONS[(status, trigger)]  # type: ignore[index]
    except KeyError:
        raise InvalidOrderTransition(status, trigger) from None


def order_initial_status(*, denied: bool = False) -> OrderStatus:
    """Return the status a new order is created with: PENDING, or DENIED by our risk gate."""
    return S.DENIED if denied else S.PENDING
