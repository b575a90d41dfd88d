"""Shared set-up of the postback and reconciliation tests: a live deployment on the fake Kite
with one order sent, and the fake's postbacks delivered in-process to our endpoint."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from execution.models import BrokerOrderLink, Order
from execution.tests.live.conftest import deploy, make_strategy, step

KITE_URL = "/api/brokers/kite/postback/"


def deliver_through(client: Client):
    """The fake's ``send``: POST the raw JSON body to our endpoint with Django's test client."""

    def send(url: str, raw: bytes) -> int:
        return client.post(url, raw, content_type="application/json").status_code

    return send


def wire_kite_postbacks(fake_kite: Any, client: Client | None = None) -> None:
    fake_kite.postbacks.url = KITE_URL
    fake_kite.postbacks.send = deliver_through(client or Client())


def live_order(user: Any, account: Any) -> tuple[Any, Order, BrokerOrderLink]:
    """Deploy live on ``account`` and step until the first order has left for the broker."""
    strategy = make_strategy(user)
    deployment = deploy(
        strategy, mode="live", broker_account=account.pk, confirm=strategy.name, algo_id="ALG1"
    )
    for k in range(120):
        step(deployment, k)
        link = BrokerOrderLink.objects.filter(live_id=deployment.pk).first()
        if link is not None:
            order = Order.objects.get(deployment=deployment, client_order_id=link.client_order_id)
            return deployment, order, link
    raise AssertionError("the strategy never sent an order")


def kite_body(order_row: dict[str, Any], api_secret: str, **changes: Any) -> dict[str, Any]:
    """A postback body as the fake Kite signs it, for the order row ``order_row``."""
    from tests.fakes.kite.postbacks import sign

    body = {**order_row, **changes, "user_id": "AB1234", "app_id": 1234}
    body["unfilled_quantity"] = body["pending_quantity"]
    body["checksum"] = sign(body, api_secret)
    return json.loads(json.dumps(body, default=str))
