"""Reconciliation of delivery stock: the broker's holdings plus today's CNC positions against
what our CNC live runs hold, on the fake Kite and the fake Dhan. A holding we do not know, or a
quantity that differs, is one alert that clears itself once the books agree again; a CNC run's
own stock raises nothing, on the day it is bought and after it moved to the holdings."""

from __future__ import annotations

from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import Client

from brokers.models import BrokerAlert
from brokers.reconcile import reconcile_account
from brokers.services import broker_adapter_for
from execution.brokers.base import OrderRequest
from execution.engine.orders import OrderType, Product, Side, Validity
from execution.models import BrokerOrderLink, Order, Position
from execution.tests.live.conftest import deploy, make_strategy, step
from notifications.models import EventKind
from tests.fakes.dhan.fixtures import dhan_account, fake_dhan  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["kite", "dhan"])
def broker(request, user, settings):
    """(account, fake) of one vendor: the fake Kite's or the fake Dhan's books."""
    if request.param == "kite":
        return request.getfixturevalue("linked_kite_account"), request.getfixturevalue("fake_kite")
    account, dhan = request.getfixturevalue("dhan_account"), request.getfixturevalue("fake_dhan")
    call_command("import_instruments", "--from", "dhan", "--account", str(account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip
    return account, dhan


def _fill(fake, price: float = 1300.0) -> None:
    fake.advance(price, price + 5, price - 5, price + 1)


def _by_hand(account, cid: str, side: Side, qty: int, symbol: str = "RELIANCE") -> None:
    """An order placed at the broker outside the platform (its web app, another program)."""
    broker = broker_adapter_for(account=account)
    broker.place_order(
        OrderRequest(cid, symbol, side, OrderType.MARKET, qty, Product.CNC, Validity.DAY)
    )


def _holding_alerts(account) -> dict[str, BrokerAlert]:
    return {
        a.key: a
        for a in BrokerAlert.objects.filter(account=account, key__startswith="holding:")
        if a.resolved_at is None
    }


def _add_holding(fake, vendor: str, qty: int) -> None:
    """INFY stock the account held before it was linked (bought by hand, long ago)."""
    if vendor == "kite":
        fake.book.holdings.append(
            {"tradingsymbol": "INFY", "exchange": "NSE", "quantity": qty, "t1_quantity": 0,
             "average_price": 1400.0, "last_price": 1500.0, "pnl": 0.0, "product": "CNC"}
        )  # fmt: skip
    else:
        fake.book.holdings.append(
            {"exchange": "ALL", "tradingSymbol": "INFY", "securityId": "1594", "totalQty": qty,
             "availableQty": qty, "avgCostPrice": 1400.0, "lastTradedPrice": 1500.0}
        )  # fmt: skip


def _cnc_run(user, account):
    """A long-only CNC live run on RELIANCE, stepped until its first buy left for the broker."""
    strategy = make_strategy(user, product="CNC", params={"fast": 2, "slow": 5,
                                                          "mode": "long_only"})  # fmt: skip
    deployment = deploy(strategy, mode="live", broker_account=account.pk, confirm=strategy.name,
                        algo_id="ALG1")  # fmt: skip
    for k in range(120):
        step(deployment, k)
        link = BrokerOrderLink.objects.filter(live_id=deployment.pk).first()
        if link is not None:
            order = Order.objects.get(deployment=deployment, client_order_id=link.client_order_id)
            assert (order.side, order.quantity) == ("BUY", 10)
            return deployment
    raise AssertionError("the strategy never sent an order")


def test_a_cnc_runs_stock_raises_nothing_today_or_once_it_is_a_holding(user, broker):
    account, fake = broker
    deployment = _cnc_run(user, account)
    _fill(fake)
    out = reconcile_account(account=account)
    assert out.fixed == 1 and out.open_alerts == [], out.open_alerts
    assert Position.objects.get(deployment=deployment).quantity == 10

    fake.book.new_day()  # the broker moves the stock from today's positions to the holdings
    adapter = broker_adapter_for(account=account)
    assert adapter.positions() == []
    (held,) = adapter.holdings()
    assert (held.symbol, held.quantity) == ("RELIANCE", 10)
    out = reconcile_account(account=account)
    assert out.open_alerts == [] and not BrokerAlert.objects.exists()


def test_delivery_sold_at_the_broker_is_a_mismatch_that_clears_when_bought_back(user, broker):
    account, fake = broker
    _cnc_run(user, account)
    _fill(fake)
    reconcile_account(account=account)
    fake.book.new_day()

    _by_hand(account, "by-hand-sell", Side.SELL, 4)  # sold from the holding, outside the platform
    _fill(fake)
    out = reconcile_account(account=account)
    assert "holding:RELIANCE" in out.new_alerts
    alert = _holding_alerts(account)["holding:RELIANCE"]
    assert alert.kind == BrokerAlert.Kind.HOLDING_MISMATCH
    assert alert.detail == {"symbol": "RELIANCE", "broker": 6, "holdings": 10, "today": -4,
                            "ours": 10}  # fmt: skip
    assert "RELIANCE: the broker holds 6 for delivery" in alert.message
    assert not any(k.startswith("position:") for k in out.open_alerts)  # CNC is not intraday

    again = reconcile_account(account=account)  # no second alert for the same difference
    assert again.new_alerts == [] and "holding:RELIANCE" in again.open_alerts

    _by_hand(account, "by-hand-buy", Side.BUY, 4)
    _fill(fake)
    out = reconcile_account(account=account)
    assert "holding:RELIANCE" not in out.open_alerts and out.resolved >= 1
    assert BrokerAlert.objects.get(key="holding:RELIANCE").resolved_at is not None


def test_a_holding_we_do_not_know_is_one_alert_shown_notified_and_cleared(
    user, broker, django_capture_on_commit_callbacks
):
    account, fake = broker
    vendor = account.vendor
    _add_holding(fake, vendor, 5)
    sent = []
    with (
        mock.patch("notifications.services.dispatch", lambda *a, **k: sent.append(a)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        out = reconcile_account(account=account)
        again = reconcile_account(account=account)
    assert out.new_alerts == ["holding:INFY"] and again.new_alerts == []
    alert = _holding_alerts(account)["holding:INFY"]
    assert alert.kind == BrokerAlert.Kind.UNKNOWN_HOLDING
    assert alert.detail == {"symbol": "INFY", "broker": 5, "holdings": 5, "today": 0, "ours": 0}
    assert [(a[1], a[2]["kind"], a[2]["symbol"]) for a in sent] == [
        (EventKind.BROKER_ALERT, "unknown_holding", "INFY")
    ]
    browser = Client()
    browser.force_login(user)
    page = browser.get("/brokers/").content.decode()
    assert "Holding we do not know" in page and "INFY: the broker holds 5 for delivery" in page

    fake.book.holdings.clear()  # sold off, or moved to another demat account
    out = reconcile_account(account=account)
    assert out.open_alerts == [] and out.resolved == 1
    assert not _holding_alerts(account)


def test_an_adapter_without_holdings_compares_cnc_with_the_positions(
    user, linked_kite_account, fake_kite
):
    """A broker that reports no holdings: today's CNC positions are compared as before."""

    class NoHoldings:
        def __init__(self, real):
            self.orders, self.positions = real.orders, real.positions

        def holdings(self):
            raise NotImplementedError

    _by_hand(linked_kite_account, "by-hand-cnc", Side.BUY, 3, symbol="INFY")
    _fill(fake_kite, 1500.0)
    adapter = NoHoldings(broker_adapter_for(account=linked_kite_account))
    out = reconcile_account(account=linked_kite_account, adapter=adapter)
    assert "position:INFY" in out.open_alerts
    assert not any(k.startswith("holding:") for k in out.open_alerts)
    assert BrokerAlert.objects.get(key="position:INFY").detail == {
        "symbol": "INFY", "broker": 3, "ours": 0
    }  # fmt: skip
