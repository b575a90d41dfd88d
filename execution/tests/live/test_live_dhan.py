"""Live mode on the fake Dhan: a deployment's orders reach Dhan's book with the securityId and
exchange segment ``import_instruments --from dhan`` stored, and our id as the correlationId."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from execution.brokers.dhan_mapping import correlation_id
from execution.models import BrokerOrderLink, Instrument, Order
from execution.tests.live.conftest import deploy, live_of, make_strategy, step

pytestmark = pytest.mark.django_db
ALGO = "ALG42"


def _sent(deployment):
    return Order.objects.filter(deployment=deployment).exclude(status="DENIED")


def _step_until_sent(deployment, limit: int = 120) -> None:
    for k in range(limit):
        step(deployment, k)
        if _sent(deployment).exists():
            return
    raise AssertionError("no order was sent")


def test_a_live_deployment_on_dhan_sends_the_imported_security_id_and_segment(
    user, dhan_account, fake_dhan
):
    call_command("import_instruments", "--from", "dhan", "--account", str(dhan_account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip
    strategy = make_strategy(user)
    assert Instrument.objects.get(pk=strategy.instrument_id).dhan_security_id == 2885
    deployment = deploy(strategy, mode="live", broker_account=dhan_account.pk,
                        confirm=strategy.name, algo_id=ALGO)  # fmt: skip
    assert live_of(deployment).mode == "live"
    _step_until_sent(deployment)
    order = _sent(deployment).get()
    (at_dhan,) = fake_dhan.book.orders.values()
    assert (at_dhan["securityId"], at_dhan["exchangeSegment"]) == ("2885", "NSE_EQ")
    assert at_dhan["tradingSymbol"] == "RELIANCE" and at_dhan["quantity"] == 10
    assert at_dhan["correlationId"] == correlation_id(order.client_order_id, ALGO)
    assert at_dhan["orderStatus"] == "PENDING"  # accepted: the id and segment matched Dhan's
    link = BrokerOrderLink.objects.get(live=live_of(deployment))
    assert link.broker_order_id == at_dhan["orderId"]


def test_without_the_import_a_live_deploy_on_dhan_is_refused_naming_the_field(
    user, dhan_account, fake_dhan, api_client
):
    strategy = make_strategy(user)
    body = {"mode": "live", "broker_account": dhan_account.pk, "confirm": strategy.name}
    response = api_client.post(f"/api/strategies/{strategy.pk}/deploy/", body, format="json")
    assert response.status_code == 400, response.content
    message = response.json()["error"]["fields"]["broker_account"][0]
    assert "NSE:RELIANCE has no Dhan security id" in message and "--from dhan" in message
    assert not fake_dhan.book.orders
