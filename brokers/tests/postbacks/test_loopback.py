"""End to end over loopback: the fake Kite posts its signed postbacks by HTTP to our running
server, as Kite does, the first one while our step is still waiting for the placement's answer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokers.models import BrokerPostback
from brokers.tests.postbacks.helpers import KITE_URL, live_order
from execution.models import Order, Position, Trade


@pytest.mark.django_db(transaction=True)
def test_the_fake_kite_posts_to_our_server_and_the_fill_is_booked(
    user, linked_kite_account, fake_kite, live_server
):
    fake_kite.postbacks.url = live_server.url + KITE_URL
    fake_kite.postbacks.immediate = True  # posted inside the placement call, before its answer

    deployment, order, link = live_order(user, linked_kite_account)
    first = BrokerPostback.objects.get()  # the OPEN: it came while our link was uncommitted
    assert first.broker_order_id == link.broker_order_id
    assert first.outcome == "unchanged"  # replayed once the link was written: nothing new
    assert [code for _, code in fake_kite.postbacks.sent] == [200]

    fake_kite.advance(1300.0, 1305.0, 1295.0, 1301.0)  # Kite fills it and posts at once
    (row,) = fake_kite.book.orders.values()
    assert [code for _, code in fake_kite.postbacks.sent] == [200, 200]
    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.filled_quantity) == ("COMPLETE", 10)
    assert order.average_price == Decimal(str(row["average_price"]))
    assert Trade.objects.filter(order=order).count() == 1
    signed = 10 if order.side == "BUY" else -10
    assert Position.objects.get(deployment=deployment).quantity == signed
