"""A basket deployed live to a broker account: each member's orders reach the (fake) broker with
the member's vendor ids and the strategy's algo id, the risk gate acts before anything leaves,
a member the broker cannot be sent is a 400 naming it, and a stop cancels at the broker."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from execution.brokers.dhan_mapping import correlation_id
from execution.brokers.kite_mapping import kite_tag
from execution.models import BrokerOrderLink, EquitySnapshot, Instrument, Order, Position, Trade
from execution.tests.live.conftest import deploy, live_of, make_strategy, step
from strategies import services
from strategies.baskets import basket_replace
from strategies.tests.factories import seeded_instrument

pytestmark = pytest.mark.django_db
ALGO = "ALG7"
KITE_MEMBERS = ("RELIANCE", "INFY", "TCS")
DHAN_MEMBERS = ("RELIANCE", "INFY", "HDFCBANK")


def _basket(user, symbols, **overrides):
    strategy = make_strategy(user, name="trio", capital=Decimal("300000.00"), **overrides)
    basket_replace(
        strategy=strategy,
        members=[{"instrument": seeded_instrument(s), "allocation_pct": None} for s in symbols],
    )
    return strategy


def _sent(deployment):
    return Order.objects.filter(deployment=deployment).exclude(status="DENIED")


def _step_until_every_member_sent(deployment, members: int, limit: int = 200) -> int:
    for k in range(limit):
        step(deployment, k)
        if _sent(deployment).values("instrument").distinct().count() == members:
            return k
    raise AssertionError("not every member sent an order")


@pytest.fixture
def kite_basket_account(linked_kite_account, fake_kite):
    fake_kite.add_instrument("TCS", tick=0.05, lot=1, last_price=3500.0)
    call_command("import_instruments", "--from", "kite", "--account", str(linked_kite_account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip
    return linked_kite_account


def test_a_three_member_basket_live_on_kite_sends_each_members_orders(
    user, kite_basket_account, fake_kite
):
    strategy = _basket(user, KITE_MEMBERS)
    deployment = deploy(strategy, mode="live", broker_account=kite_basket_account.pk,
                        confirm=strategy.name, algo_id=ALGO)  # fmt: skip
    live = live_of(deployment)
    assert (live.mode, live.broker_account_id, live.algo_id) == ("live", kite_basket_account.pk,
                                                                 ALGO)  # fmt: skip
    _step_until_every_member_sent(deployment, 3)

    at_kite = list(fake_kite.book.orders.values())
    assert {o["tradingsymbol"] for o in at_kite} == set(KITE_MEMBERS)
    assert {o["exchange"] for o in at_kite} == {"NSE"}
    for order in _sent(deployment).select_related("instrument"):
        link = BrokerOrderLink.objects.get(live=live, client_order_id=order.client_order_id)
        row = fake_kite.book.orders[link.broker_order_id]
        assert row["tradingsymbol"] == order.instrument.symbol  # the member's own instrument
        assert row["tag"] == kite_tag(order.client_order_id, ALGO) == link.tag  # SEBI: algo id
        assert (row["quantity"], row["transaction_type"]) == (order.quantity, order.side)
    # one order per member per signal: every order at Kite is one of ours, none twice
    assert len(at_kite) == BrokerOrderLink.objects.filter(live=live).count()


def test_kites_fills_are_each_members_position(user, kite_basket_account, fake_kite):
    strategy = _basket(user, KITE_MEMBERS)
    deployment = deploy(strategy, mode="live", broker_account=kite_basket_account.pk,
                        confirm=strategy.name, algo_id=ALGO)  # fmt: skip
    k = _step_until_every_member_sent(deployment, 3)
    for symbol, price in (("RELIANCE", 1300.0), ("INFY", 1500.0), ("TCS", 3500.0)):
        fake_kite.book.instruments[f"NSE:{symbol}"].last_price = price
    fake_kite.advance(1000.0, 4000.0, 900.0, 1000.0)  # every working order trades through
    step(deployment, k + 1)  # the next step reads the broker's answers... and the postbacks:
    from brokers.reconcile import reconcile_account

    reconcile_account(account=kite_basket_account)
    signed = {"BUY": 1, "SELL": -1}
    for member in KITE_MEMBERS:
        inst = Instrument.objects.get(exchange="NSE", symbol=member)
        filled = sum(
            signed[o.side] * o.filled_quantity
            for o in Order.objects.filter(deployment=deployment, instrument=inst)
        )
        assert filled != 0, member
        assert Position.objects.get(deployment=deployment, instrument=inst).quantity == filled

    # the basket's equity is the broker's books: its cash is the capital less what Kite's fills
    # cost (and their charges), not the deployment's model's
    step(deployment, k + 2)
    point = EquitySnapshot.objects.filter(deployment=deployment).latest("ts")
    positions = Position.objects.filter(deployment=deployment)
    charges = sum(t.charges for t in Trade.objects.filter(deployment=deployment))
    cost = sum(p.quantity * p.average_price - p.realised_pnl for p in positions)
    assert point.cash == (strategy.capital - charges - cost).quantize(Decimal("0.01"))


def test_the_risk_gate_denies_before_any_member_order_leaves(user, kite_basket_account, fake_kite):
    strategy = _basket(user, KITE_MEMBERS, risk_limits={"max_order_quantity": 5})  # orders are 10
    deployment = deploy(strategy, mode="live", broker_account=kite_basket_account.pk,
                        confirm=strategy.name)  # fmt: skip
    for k in range(80):
        step(deployment, k)
    denied = Order.objects.filter(deployment=deployment, status="DENIED")
    assert denied.values("instrument").distinct().count() == 3
    assert not _sent(deployment).exists() and not fake_kite.book.orders
    assert not BrokerOrderLink.objects.filter(live=live_of(deployment)).exists()


def test_a_member_without_kite_ids_is_a_400_naming_it(user, linked_kite_account, api_client):
    call_command("import_instruments", "--from", "kite", "--account", str(linked_kite_account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip
    odd = Instrument.objects.create(exchange="NSE", symbol="NOTATKITE", tick_size=Decimal("0.05"),
                                    lot_size=1)  # fmt: skip
    strategy = make_strategy(user, name="odd", capital=Decimal("300000.00"))
    basket_replace(strategy=strategy, members=[
        {"instrument": seeded_instrument("RELIANCE"), "allocation_pct": None},
        {"instrument": odd, "allocation_pct": None},
    ])  # fmt: skip
    body = {"mode": "live", "broker_account": linked_kite_account.pk, "confirm": strategy.name}
    response = api_client.post(f"/api/strategies/{strategy.pk}/deploy/", body, format="json")
    assert response.status_code == 400, response.content
    message = response.json()["error"]["fields"]["instruments"][0]
    assert "NSE:NOTATKITE" in message and "RELIANCE" not in message
    assert "import_instruments --from kite" in message
    strategy.refresh_from_db()
    assert strategy.status == "INACTIVE" and not strategy.deployments.exists()


def test_a_stop_with_square_off_closes_every_members_position_at_the_broker(
    user, kite_basket_account, fake_kite
):
    strategy = _basket(user, KITE_MEMBERS)
    deployment = deploy(strategy, mode="live", broker_account=kite_basket_account.pk,
                        confirm=strategy.name, algo_id=ALGO)  # fmt: skip
    k = _step_until_every_member_sent(deployment, 3)
    step(deployment, k + 1)  # the deployment's model has each entry filled: it holds them
    entries = {o["tradingsymbol"]: o for o in fake_kite.book.orders.values()}
    services.strategy_stop(strategy=strategy, actor=user, square_off=True)
    live = live_of(deployment)
    closing = {}
    for link in BrokerOrderLink.objects.filter(live=live, client_order_id__endswith="-sq"):
        row = fake_kite.book.orders[link.broker_order_id]
        assert row["tag"] == kite_tag(link.client_order_id, ALGO)
        closing[row["tradingsymbol"]] = row
    assert set(closing) == set(KITE_MEMBERS)  # one closing order per member, at Kite
    for symbol, row in closing.items():
        entry = entries[symbol]
        assert row["transaction_type"] != entry["transaction_type"]
        assert row["quantity"] == entry["quantity"]


def test_a_three_member_basket_live_on_dhan_sends_each_members_security_id(
    user, dhan_account, fake_dhan
):
    call_command("import_instruments", "--from", "dhan", "--account", str(dhan_account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip
    strategy = _basket(user, DHAN_MEMBERS)
    deployment = deploy(strategy, mode="live", broker_account=dhan_account.pk,
                        confirm=strategy.name, algo_id=ALGO)  # fmt: skip
    _step_until_every_member_sent(deployment, 3)
    at_dhan = list(fake_dhan.book.orders.values())
    ids = {"RELIANCE": "2885", "INFY": "1594", "HDFCBANK": "1333"}
    assert {(o["tradingSymbol"], o["securityId"]) for o in at_dhan} == set(ids.items())
    assert {o["exchangeSegment"] for o in at_dhan} == {"NSE_EQ"}
    live = live_of(deployment)
    for order in _sent(deployment):
        link = BrokerOrderLink.objects.get(live=live, client_order_id=order.client_order_id)
        row = fake_dhan.book.orders[link.broker_order_id]
        assert row["correlationId"] == correlation_id(order.client_order_id, ALGO)


def test_a_member_without_a_dhan_security_id_is_a_400_naming_it(
    user, dhan_account, fake_dhan, api_client
):
    call_command("import_instruments", "--from", "dhan", "--account", str(dhan_account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip
    strategy = _basket(user, ("RELIANCE", "TCS"))  # TCS is not in the fake's scrip master
    body = {"mode": "live", "broker_account": dhan_account.pk, "confirm": strategy.name}
    response = api_client.post(f"/api/strategies/{strategy.pk}/deploy/", body, format="json")
    assert response.status_code == 400, response.content
    message = response.json()["error"]["fields"]["instruments"][0]
    assert message.startswith("NSE:TCS: no Dhan security id")
    assert not fake_dhan.book.orders


def test_a_bse_member_and_a_bse_deployment_reach_kite_on_bse(user, kite_basket_account, fake_kite):
    """Orders carry their instrument's exchange: BSE:INFY is not NSE's INFY."""
    fake_kite.add_instrument("INFY", exchange="BSE", tick=0.05, lot=1, last_price=1500.0)
    bse = Instrument.objects.create(exchange="BSE", symbol="INFY", tick_size=Decimal("0.05"),
                                    lot_size=1, kite_token=128053508)  # fmt: skip
    strategy = make_strategy(user, name="two-exchanges", capital=Decimal("200000.00"))
    basket_replace(strategy=strategy, members=[
        {"instrument": seeded_instrument("RELIANCE"), "allocation_pct": None},
        {"instrument": bse, "allocation_pct": None},
    ])  # fmt: skip
    basket = deploy(strategy, mode="live", broker_account=kite_basket_account.pk,
                    confirm=strategy.name)  # fmt: skip
    _step_until_every_member_sent(basket, 2)
    venues = {(o["exchange"], o["tradingsymbol"]) for o in fake_kite.book.orders.values()}
    assert venues == {("NSE", "RELIANCE"), ("BSE", "INFY")}

    single = make_strategy(user, name="bse-alone", instrument=bse)
    deployment = deploy(single, mode="live", broker_account=kite_basket_account.pk,
                        confirm=single.name)  # fmt: skip
    _step_until_every_member_sent(deployment, 1)
    link = BrokerOrderLink.objects.get(live=live_of(deployment))
    assert fake_kite.book.orders[link.broker_order_id]["exchange"] == "BSE"
