"""Which triggers move our order to what the broker reports (``order_sync.triggers_for``):
every path ends in the status the broker reports, through the order transition table."""

from __future__ import annotations

import pytest

from brokers.order_sync import triggers_for
from brokers.reports import BrokerReport, report_from_dhan, report_from_kite
from execution.engine.orders import InvalidOrderTransition, order_next_status


def report(status: str, filled: int = 0, price: float = 100.0) -> BrokerReport:
    return BrokerReport("1", "", status, status, filled, price if filled else 0.0)


@pytest.mark.parametrize(
    ("current", "filled", "theirs", "their_filled", "expected"),
    [
        ("PENDING", 0, "OPEN", 0, ["ACCEPT"]),
        ("PENDING", 0, "TRIGGER_PENDING", 0, ["ACCEPT_STOP"]),
        ("TRIGGER_PENDING", 0, "OPEN", 0, ["TRIGGER"]),
        ("PENDING", 0, "COMPLETE", 10, ["FILL"]),  # a COMPLETE before the OPEN
        ("OPEN", 0, "PARTIALLY_FILLED", 4, ["FILL_PARTIAL"]),
        ("OPEN", 0, "OPEN", 4, ["FILL_PARTIAL"]),  # Kite: OPEN with filled_quantity > 0
        ("PARTIALLY_FILLED", 4, "COMPLETE", 10, ["FILL"]),
        ("PARTIALLY_FILLED", 4, "CANCELLED", 6, ["FILL_PARTIAL", "CANCEL"]),
        ("OPEN", 0, "CANCELLED", 0, ["CANCEL"]),
        ("PENDING", 0, "REJECTED", 0, ["REJECT"]),
        ("OPEN", 0, "EXPIRED", 0, ["EXPIRE"]),
        ("OPEN", 0, "OPEN", 0, []),
        ("PARTIALLY_FILLED", 4, "OPEN", 4, []),
        ("COMPLETE", 10, "COMPLETE", 10, []),
    ],
)
def test_paths_end_where_the_broker_is(current, filled, theirs, their_filled, expected):
    got = triggers_for(current, filled, report(theirs, their_filled), 10)
    assert got == expected
    status = current
    for trigger in got:
        status = order_next_status(status, trigger)
    # Kite's OPEN with a fill is our PARTIALLY_FILLED; a report with nothing new leaves ours
    final = "PARTIALLY_FILLED" if theirs == "OPEN" and their_filled else theirs
    assert status == (final if got else current)


@pytest.mark.parametrize(
    ("current", "filled", "theirs", "their_filled"),
    [
        ("COMPLETE", 10, "OPEN", 0),  # the OPEN after the COMPLETE
        ("PARTIALLY_FILLED", 6, "PARTIALLY_FILLED", 4),  # an older partial fill
        ("OPEN", 0, "PENDING", 0),
        ("CANCELLED", 0, "COMPLETE", 10),
    ],
)
def test_older_reports_are_stale(current, filled, theirs, their_filled):
    with pytest.raises(InvalidOrderTransition):
        triggers_for(current, filled, report(theirs, their_filled), 10)


def test_a_fill_without_its_price_is_left_to_the_order_book():
    unpriced = BrokerReport("1", "", "COMPLETE", "TRADED", 10, 0.0)
    with pytest.raises(InvalidOrderTransition):
        triggers_for("OPEN", 0, unpriced, 10)


def test_vendor_bodies_translate_to_our_status():
    kite = report_from_kite(
        {"order_id": "9", "status": "OPEN", "filled_quantity": 3, "average_price": 10.5, "tag": "T"}
    )
    assert (kite.status, kite.filled_quantity, kite.tag) == ("PARTIALLY_FILLED", 3, "T")
    dhan = report_from_dhan(
        {"orderId": "8", "orderStatus": "TRADED", "filled_qty": 5, "averageTradedPrice": 99.5}
    )
    assert (dhan.status, dhan.filled_quantity, dhan.average_price) == ("COMPLETE", 5, 99.5)
    ioc = report_from_kite({"order_id": "7", "status": "CANCELLED", "validity": "IOC"})
    assert ioc.status == "EXPIRED"
