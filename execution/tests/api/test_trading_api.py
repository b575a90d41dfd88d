"""The trading API: deployments with P&L, orders (place, modify, cancel), fills, positions, equity.

Every list is paginated and scoped to its owner; another user's rows answer 404 on every verb and
stay untouched; POSTs that create things honour ``Idempotency-Key``; lists cost a constant number
of queries.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from algosaas.api.idempotency import _fingerprint
from algosaas.models import IdempotencyKey
from execution.models import Backtest, EquitySnapshot, Order, OrderEvent, Position, Trade
from execution.services.live import order_place
from execution.tests.live.conftest import deploy, make_strategy, step
from strategies import services
from strategies.tests.factories import ensure_seeded_instruments, seeded_instrument

pytestmark = pytest.mark.django_db

ORDER_FIELDS = {
    "id",
    "client_order_id",
    "broker_order_id",
    "deployment",
    "strategy",
    "instrument",
    "currency",
    "side",
    "order_type",
    "product",
    "validity",
    "quantity",
    "price",
    "trigger_price",
    "filled_quantity",
    "pending_quantity",
    "average_price",
    "status",
    "status_message",
    "broker_status",
    "denial_rule",
    "source",
    "role",
    "created_at",
    "updated_at",
}
TRADE_FIELDS = {
    "id",
    "order",
    "deployment",
    "fill_id",
    "side",
    "quantity",
    "price",
    "currency",
    "charges",
    "charges_breakdown",
    "executed_at",
}
POSITION_FIELDS = {
    "id",
    "instrument",
    "symbol",
    "currency",
    "quantity",
    "average_price",
    "last_price",
    "realised_pnl",
    "unrealised_pnl",
    "updated_at",
}
EVENT_FIELDS = {"id", "status", "broker_status", "trigger", "message", "payload", "ts"}
FAR_LIMIT = {"side": "BUY", "order_type": "LIMIT", "quantity": 5, "price": "100.00"}


def orders_url(deployment) -> str:
    return f"/api/deployments/{deployment.pk}/orders/"


def page(response) -> list[dict]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}  # paginated
    return body["results"]


def error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


@pytest.fixture
def mine(user):
    """A deployment of ``user`` that has traded for 40 bars, with one resting manual order."""
    deployment = deploy(make_strategy(user, name="mine"))
    step(deployment, 39)
    order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=5, price=Decimal("100")
    )
    return deployment


@pytest.fixture
def theirs(other_user):
    deployment = deploy(
        make_strategy(other_user, name="theirs", instrument=seeded_instrument("TCS"))
    )
    step(deployment, 19)
    order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=5, price=Decimal("100")
    )
    return deployment


# ----------------------------------------------------------------------------- reads


def test_deployment_list_and_detail_are_owner_scoped(api_client, other_client, mine, theirs):
    rows = page(api_client.get("/api/deployments/"))
    assert [r["id"] for r in rows] == [mine.pk]
    assert [r["id"] for r in page(other_client.get("/api/deployments/"))] == [theirs.pk]
    detail = api_client.get(f"/api/deployments/{mine.pk}/").json()
    assert detail == rows[0]
    assert (detail["status"], detail["phase"], detail["feed"]) == (
        "RUNNING",
        "RUNNING",
        "synthetic",
    )
    last = EquitySnapshot.objects.filter(deployment=mine).order_by("-ts").first()
    assert Decimal(detail["pnl"]["equity"]) == last.equity
    filtered = page(api_client.get("/api/deployments/", {"strategy": theirs.strategy_id}))
    assert filtered == []


def test_orders_of_a_deployment(api_client, mine):
    rows = page(api_client.get(orders_url(mine), {"page_size": 200}))
    assert len(rows) == Order.objects.filter(deployment=mine).count() >= 5
    assert all(set(r) == ORDER_FIELDS for r in rows)
    assert {r["strategy"] for r in rows} == {mine.strategy_id}
    assert {r["deployment"] for r in rows} == {mine.pk}
    manual = [r for r in rows if r["source"] == "manual"]
    assert len(manual) == 1 and manual[0]["status"] == "OPEN" and manual[0]["price"] == "100.0000"
    # newest first
    assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows), reverse=True)


def test_order_filters(api_client, user, mine, theirs):
    second = deploy(make_strategy(user, name="second", instrument=seeded_instrument("INFY")))
    step(second, 39)
    url = "/api/orders/"
    everything = page(api_client.get(url, {"page_size": 200}))
    assert {r["deployment"] for r in everything} == {mine.pk, second.pk}  # never theirs

    def ids(**params) -> set[int]:
        return {r["id"] for r in page(api_client.get(url, {"page_size": 200, **params}))}

    def expect(qs) -> set[int]:
        return set(qs.values_list("id", flat=True))

    own = Order.objects.filter(deployment__strategy__owner=user)
    assert ids(status="OPEN") == expect(own.filter(status="OPEN")) != set()
    assert ids(status=["OPEN", "COMPLETE"]) == expect(own.filter(status__in=["OPEN", "COMPLETE"]))
    assert ids(side="SELL") == expect(own.filter(side="SELL")) != set()
    inst = seeded_instrument("INFY")
    assert ids(instrument=inst.pk) == expect(own.filter(instrument=inst)) != set()
    assert ids(strategy=mine.strategy_id) == expect(own.filter(deployment=mine))
    assert ids(deployment=second.pk) == expect(own.filter(deployment=second)) != set()
    assert ids(source="manual") == expect(own.filter(source="manual"))
    assert ids(deployment=theirs.pk) == set()
    assert ids(strategy=theirs.strategy_id) == set()
    cut = Order.objects.filter(deployment=mine, source="strategy").order_by("created_at")[3]
    stamp = cut.created_at.isoformat()
    assert ids(created_after=stamp) == expect(own.filter(created_at__gte=cut.created_at))
    assert ids(created_before=stamp) == expect(own.filter(created_at__lt=cut.created_at))
    assert ids(created_after=stamp) | ids(created_before=stamp) == expect(own)
    assert error(api_client.get(url, {"status": "LOST"}), 400)["fields"].keys() == {"status"}
    assert error(api_client.get(url, {"side": "HOLD"}), 400)["fields"].keys() == {"side"}


def test_order_detail_and_events(api_client, mine):
    order = Order.objects.filter(deployment=mine, status="COMPLETE").first()

    body = api_client.get(f"/api/orders/{order.pk}/").json()
    events = page(api_client.get(f"/api/orders/{order.pk}/events/"))

    assert set(body) == ORDER_FIELDS and body["client_order_id"] == order.client_order_id
    assert body["filled_quantity"] == body["quantity"] == 10 and body["pending_quantity"] == 0
    assert all(set(e) == EVENT_FIELDS for e in events)
    assert [(e["status"], e["trigger"]) for e in events] == [
        ("PENDING", ""),
        ("OPEN", "ACCEPT"),
        ("COMPLETE", "FILL"),
    ]
    assert events[-1]["broker_status"] == "COMPLETE"


def test_trades(api_client, mine):
    rows = page(api_client.get(f"/api/deployments/{mine.pk}/trades/", {"page_size": 200}))

    trades = {t.pk: t for t in Trade.objects.filter(deployment=mine)}
    assert len(rows) == len(trades) >= 4
    for row in rows:
        assert set(row) == TRADE_FIELDS
        trade = trades[row["id"]]
        assert row["order"] == trade.order_id and row["quantity"] == trade.quantity == 10
        assert Decimal(row["price"]) == trade.price and Decimal(row["charges"]) == trade.charges
        assert Decimal(row["charges"]) > 0
        assert set(row["charges_breakdown"]) >= {"brokerage", "stt", "gst", "total"}
        assert row["executed_at"]


def test_positions_with_unrealised_pnl(api_client, mine):
    rows = page(api_client.get(f"/api/deployments/{mine.pk}/positions/"))

    position = Position.objects.get(deployment=mine)
    assert len(rows) == 1 and set(rows[0]) == POSITION_FIELDS
    row = rows[0]
    assert (row["symbol"], row["quantity"]) == ("RELIANCE", position.quantity)
    expected = Decimal("0")
    if position.quantity:
        expected = (position.last_price - position.average_price) * position.quantity
    assert Decimal(row["unrealised_pnl"]) == expected.quantize(Decimal("0.01"))
    assert Decimal(row["realised_pnl"]) == position.realised_pnl


def test_equity_since(api_client, mine):
    everything = page(api_client.get(f"/api/deployments/{mine.pk}/equity/"))
    assert len(everything) == 40
    assert set(everything[0]) == {"ts", "cash", "position_value", "equity"}
    assert [r["ts"] for r in everything] == sorted(r["ts"] for r in everything)
    cut = EquitySnapshot.objects.filter(deployment=mine).order_by("ts")[29]

    later = page(
        api_client.get(f"/api/deployments/{mine.pk}/equity/", {"since": cut.ts.isoformat()})
    )

    assert len(later) == 10 and later == everything[30:]
    bad = api_client.get(f"/api/deployments/{mine.pk}/equity/", {"since": "yesterday"})
    assert "since" in error(bad, 400)["fields"]


# ----------------------------------------------------------------------------- isolation


def test_another_users_deployment_and_orders_are_404_everywhere(api_client, mine, theirs):
    order = Order.objects.filter(deployment=theirs, status="OPEN").get()
    rows_before = Order.objects.count(), OrderEvent.objects.count()
    base = f"/api/deployments/{theirs.pk}/"
    missing = "/api/deployments/999999/"

    for url in (base, f"{base}orders/", f"{base}trades/", f"{base}positions/", f"{base}equity/"):
        assert error(api_client.get(url), 404)["code"] == "not_found", url
        assert api_client.get(url.replace(base, missing)).json() == api_client.get(url).json()
    assert error(api_client.post(f"{base}orders/", FAR_LIMIT, format="json"), 404)
    keyed = api_client.post(
        f"{base}orders/", FAR_LIMIT, format="json", HTTP_IDEMPOTENCY_KEY="probe"
    )
    assert error(keyed, 404)
    for verb, url in (
        ("get", f"/api/orders/{order.pk}/"),
        ("get", f"/api/orders/{order.pk}/events/"),
        ("patch", f"/api/orders/{order.pk}/"),
        ("delete", f"/api/orders/{order.pk}/"),
    ):
        response = getattr(api_client, verb)(url, {"price": "105.00"}, format="json")
        assert error(response, 404)["code"] == "not_found", (verb, url)

    order.refresh_from_db()
    assert order.status == "OPEN" and order.price == Decimal("100")
    assert (Order.objects.count(), OrderEvent.objects.count()) == rows_before
    assert not IdempotencyKey.objects.exists()
    assert [r["id"] for r in page(api_client.get("/api/orders/", {"page_size": 200}))] == list(
        Order.objects.filter(deployment=mine).values_list("id", flat=True)
    )


def test_anonymous_is_refused(anon_client, mine):
    assert anon_client.get("/api/orders/").status_code == 401
    assert anon_client.post(orders_url(mine), FAR_LIMIT, format="json").status_code == 401


# ----------------------------------------------------------------------------- manual orders


def test_place_modify_and_cancel_through_the_api(api_client, mine):
    placed = api_client.post(orders_url(mine), FAR_LIMIT, format="json")
    assert placed.status_code == 201, placed.content
    order = placed.json()
    assert set(order) == ORDER_FIELDS
    assert (order["status"], order["source"], order["side"]) == ("OPEN", "manual", "BUY")
    url = f"/api/orders/{order['id']}/"

    modified = api_client.patch(url, {"price": "110.50", "quantity": 8}, format="json")
    assert modified.status_code == 200, modified.content
    assert (modified.json()["price"], modified.json()["quantity"]) == ("110.5000", 8)

    off_tick = api_client.patch(url, {"price": "110.52"}, format="json")
    assert "tick" in error(off_tick, 400)["fields"]["price"][0]
    nothing = api_client.patch(url, {}, format="json")
    assert error(nothing, 400)["code"] == "invalid"
    assert Order.objects.get(pk=order["id"]).price == Decimal("110.5")

    cancelled = api_client.delete(url)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    again = error(api_client.delete(url), 409)
    assert again["code"] == "order_not_open" and again["current_state"] == "CANCELLED"
    assert error(api_client.patch(url, {"price": "120.00"}, format="json"), 409)["code"] == (
        "order_not_open"
    )
    statuses = [e["status"] for e in page(api_client.get(f"{url}events/"))]
    assert statuses == ["PENDING", "OPEN", "OPEN", "CANCELLED"]


def test_rejections_and_denials_are_recorded_orders(api_client, user):
    deployment = deploy(make_strategy(user, risk_limits={"max_order_quantity": 20}))
    step(deployment, 1)

    off_tick = api_client.post(
        orders_url(deployment), {**FAR_LIMIT, "price": "100.01"}, format="json"
    )
    too_big = api_client.post(
        orders_url(deployment), {"side": "BUY", "order_type": "MARKET", "quantity": 21},
        format="json",
    )  # fmt: skip

    assert off_tick.status_code == too_big.status_code == 201
    assert off_tick.json()["status"] == "REJECTED"
    assert "tick size" in off_tick.json()["status_message"]
    assert (too_big.json()["status"], too_big.json()["denial_rule"]) == (
        "DENIED",
        "max_order_quantity",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"side": "BUY", "order_type": "LIMIT", "quantity": 5}, "price"),
        ({"side": "BUY", "order_type": "MARKET", "quantity": 5, "price": "100.00"}, "price"),
        ({"side": "SELL", "order_type": "SL", "quantity": 5, "price": "100.00"}, "trigger_price"),
        ({"side": "SELL", "order_type": "SL-M", "quantity": 5}, "trigger_price"),
        ({"side": "HOLD", "order_type": "MARKET", "quantity": 5}, "side"),
        ({"side": "BUY", "order_type": "MARKET", "quantity": 0}, "quantity"),
        ({"side": "BUY", "order_type": "ICEBERG", "quantity": 5}, "order_type"),
        ({"side": "BUY", "order_type": "MARKET", "quantity": 5, "product": "NRML"}, "product"),
    ],
)
def test_invalid_orders_name_the_field(api_client, mine, body, field):
    before = Order.objects.count()

    err = error(api_client.post(orders_url(mine), body, format="json"), 400)

    assert err["code"] == "invalid" and field in err["fields"], err
    assert Order.objects.count() == before


def test_orders_on_a_stopped_deployment_are_refused(api_client, mine):
    services.strategy_stop(strategy=mine.strategy, actor=mine.strategy.owner)
    before = Order.objects.count()

    err = error(api_client.post(orders_url(mine), FAR_LIMIT, format="json"), 409)

    assert err["code"] == "deployment_not_running" and err["current_state"] == "STOPPED"
    assert Order.objects.count() == before


# ----------------------------------------------------------------------------- idempotency


def _keyed(client, url, body, key):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_and_body_replays_the_first_answer(api_client, mine):
    first = _keyed(api_client, orders_url(mine), FAR_LIMIT, "order-1")
    second = _keyed(api_client, orders_url(mine), FAR_LIMIT, "order-1")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Order.objects.filter(deployment=mine, source="manual").count() == 2  # fixture's + 1


def test_same_key_with_another_body_is_422(api_client, mine):
    _keyed(api_client, orders_url(mine), FAR_LIMIT, "order-1")

    err = error(_keyed(api_client, orders_url(mine), {**FAR_LIMIT, "quantity": 6}, "order-1"), 422)

    assert err["code"] == "idempotency_key_reused"
    assert not Order.objects.filter(deployment=mine, quantity=6).exists()


def test_a_key_still_in_flight_is_409(api_client, user, mine):
    url = orders_url(mine)
    fake_request = SimpleNamespace(method="POST", path=url, data=dict(FAR_LIMIT))
    IdempotencyKey.objects.create(
        user=user, key="busy", scope=f"POST {url}", request_hash=_fingerprint(fake_request)
    )
    before = Order.objects.count()

    err = error(_keyed(api_client, url, FAR_LIMIT, "busy"), 409)

    assert err["code"] == "idempotency_key_in_flight"
    assert Order.objects.count() == before


def test_keys_are_per_user(api_client, other_client, mine, theirs):
    mine_response = _keyed(api_client, orders_url(mine), FAR_LIMIT, "shared-key")
    theirs_response = _keyed(other_client, orders_url(theirs), FAR_LIMIT, "shared-key")

    assert mine_response.status_code == theirs_response.status_code == 201
    assert "Idempotent-Replayed" not in theirs_response
    assert theirs_response.json()["deployment"] == theirs.pk
    assert mine_response.json()["id"] != theirs_response.json()["id"]


def test_a_refused_request_frees_its_key(api_client, mine):
    refused = _keyed(api_client, orders_url(mine), {**FAR_LIMIT, "price": None}, "retry-me")
    assert refused.status_code == 400

    retried = _keyed(api_client, orders_url(mine), FAR_LIMIT, "retry-me")

    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried


def test_backtest_requests_honour_the_key(api_client, other_client, user, other_user):
    strategy = make_strategy(user, name="bt", timeframe="1d")
    others = make_strategy(other_user, name="bt", timeframe="1d")
    url = f"/api/strategies/{strategy.pk}/backtests/"
    body = {"start": "2022-01-01", "end": "2022-03-31"}

    first = _keyed(api_client, url, body, "bt-1")
    replay = _keyed(api_client, url, body, "bt-1")
    changed = _keyed(api_client, url, {**body, "end": "2022-06-30"}, "bt-1")
    other = _keyed(other_client, f"/api/strategies/{others.pk}/backtests/", body, "bt-1")

    assert first.status_code == replay.status_code == 202
    assert replay.json()["id"] == first.json()["id"] and replay["Idempotent-Replayed"] == "true"
    assert error(changed, 422)["code"] == "idempotency_key_reused"
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    assert Backtest.objects.filter(strategy=strategy).count() == 1

    fake_request = SimpleNamespace(method="POST", path=url, data={**body, "capital": "5000.00"})
    busy_body = {**body, "capital": "5000.00"}
    IdempotencyKey.objects.create(
        user=user, key="bt-busy", scope=f"POST {url}", request_hash=_fingerprint(fake_request)
    )
    assert error(_keyed(api_client, url, busy_body, "bt-busy"), 409)["code"] == (
        "idempotency_key_in_flight"
    )
    assert Backtest.objects.filter(strategy=strategy).count() == 1


def _race(user, url: str, body: dict, key: str, n: int = 6) -> list[int]:
    token = str(AccessToken.for_user(user))
    barrier = threading.Barrier(n, timeout=30)
    statuses, errors = [], []

    def worker():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            barrier.wait()
            statuses.append(_keyed(client, url, body, key).status_code)
        except BaseException as e:  # surfaced below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(45)
    assert not errors, errors
    return statuses


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(90)
def test_racing_requests_with_one_key_create_one_order_and_one_backtest(user, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent transactions (PostgreSQL)")
    ensure_seeded_instruments()  # a transactional test elsewhere may have flushed them
    from execution.services import backtests

    monkeypatch.setattr(backtests, "async_task", lambda *a, **kw: None)  # leave them QUEUED
    deployment = deploy(make_strategy(user))

    statuses = _race(user, orders_url(deployment), FAR_LIMIT, "race-key")

    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, statuses
    assert Order.objects.filter(deployment=deployment).count() == 1
    assert IdempotencyKey.objects.get(user=user, key="race-key").state == "DONE"

    url = f"/api/strategies/{deployment.strategy_id}/backtests/"
    statuses = _race(user, url, {"start": "2022-01-01", "end": "2022-02-28"}, "race-bt")

    assert statuses.count(202) >= 1 and set(statuses) <= {202, 409}, statuses
    assert Backtest.objects.filter(strategy_id=deployment.strategy_id).count() == 1


# ----------------------------------------------------------------------------- query counts


def _queries(client, url: str, rows: int) -> int:
    client.get(url)  # warm per-process caches
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, {"page_size": 100})
    assert len(page(response)) == rows
    return len(ctx.captured_queries)


def test_deployment_list_costs_the_same_for_2_or_20(api_client, user):
    strategies = [make_strategy(user, name=f"s{i}") for i in range(20)]

    def run(strategy, bars):
        deployment = deploy(strategy)
        step(deployment, bars)
        if bars % 2:
            services.strategy_stop(strategy=strategy, actor=user)

    for i, s in enumerate(strategies[:2]):
        run(s, 3 + i)
    few = _queries(api_client, "/api/deployments/", 2)
    for i, s in enumerate(strategies[2:]):
        run(s, 3 + i)

    assert _queries(api_client, "/api/deployments/", 20) == few


def test_order_lists_cost_the_same_for_2_or_20(api_client, user):
    deployment = deploy(make_strategy(user))
    step(deployment, 0)

    def place(n):
        for _ in range(n):
            order_place(
                deployment=deployment, side="BUY", order_type="LIMIT", quantity=1,
                price=Decimal("100"),
            )  # fmt: skip

    place(2)
    few_all = _queries(api_client, "/api/orders/", 2)
    few_one = _queries(api_client, orders_url(deployment), 2)
    place(18)

    assert _queries(api_client, "/api/orders/", 20) == few_all
    assert _queries(api_client, orders_url(deployment), 20) == few_one


def test_equity_since_a_moment_between_bars(api_client, mine):
    first = EquitySnapshot.objects.filter(deployment=mine).order_by("ts").first()
    since = (first.ts + timedelta(seconds=2)).isoformat()

    rows = page(api_client.get(f"/api/deployments/{mine.pk}/equity/", {"since": since}))

    assert len(rows) == 39
