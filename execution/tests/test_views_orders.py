"""The orders page: every order of the user, filters, pagination and the CSV export."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from execution.models import Order
from strategies.models import Deployment, DeploymentStatus
from strategies.services import strategy_config_snapshot
from strategies.tests.factories import StrategyFactory, seeded_instrument

IST = ZoneInfo("Asia/Kolkata")
HTMX_RESULTS = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "order-results"}
_ids = itertools.count(1)


def make_deployment(owner, name="Nifty trend", number=1) -> Deployment:
    """A finished run to hang orders on (the orders page never needs live state)."""
    strategy = StrategyFactory(owner=owner, name=name, instrument=seeded_instrument("RELIANCE"))
    return Deployment.objects.create(
        strategy=strategy,
        number=number,
        status=DeploymentStatus.STOPPED,
        config=strategy_config_snapshot(strategy),
        capital=strategy.capital,
    )


def make_order(deployment, *, at=None, **fields) -> Order:
    at = at or datetime(2026, 11, 20, 10, 15, tzinfo=IST)
    values = {
        "deployment": deployment,
        "instrument": deployment.strategy.instrument,
        "client_order_id": f"t-{next(_ids)}",
        "side": "BUY",
        "order_type": "LIMIT",
        "product": "CNC",
        "validity": "DAY",
        "quantity": 10,
        "price": Decimal("2450.5500"),
        "filled_quantity": 10,
        "average_price": Decimal("2450.5500"),
        "status": "COMPLETE",
        "role": "entry",
        "created_at": at,
        "updated_at": at,
    }
    values.update(fields)
    return Order.objects.create(**values)


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def book(user, other_user):
    """Orders of two of the user's strategies on different days, and one of another user."""
    a = make_deployment(user, "Alpha")
    b = make_deployment(user, "Beta")
    stranger = make_deployment(other_user, "Stranger's")
    return {
        "buy_a": make_order(a, side="BUY", at=datetime(2026, 11, 20, 9, 30, tzinfo=IST)),
        "sell_a": make_order(
            a,
            side="SELL",
            status="CANCELLED",
            filled_quantity=0,
            average_price=None,
            at=datetime(2026, 11, 21, 0, 10, tzinfo=IST),  # just after IST midnight
        ),
        "buy_b": make_order(
            b,
            side="BUY",
            order_type="MARKET",
            price=None,
            status="OPEN",
            filled_quantity=0,
            average_price=None,
            at=datetime(2026, 11, 22, 15, 0, tzinfo=IST),
        ),
        "stranger": make_order(stranger, side="BUY"),
        "a": a,
        "b": b,
    }


def listed(response) -> set[int]:
    return {o.pk for o in response.context["page"].object_list}


def export(client, **params) -> list[list[str]]:
    response = client.get(reverse("order_export"), params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_pages_require_login(client):
    for url in (reverse("order_list"), reverse("order_export")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_lists_every_order_of_the_user_and_none_of_others(owner_client, book):
    response = owner_client.get(reverse("order_list"))
    assert response.status_code == 200
    assert listed(response) == {book["buy_a"].pk, book["sell_a"].pk, book["buy_b"].pk}
    body = response.content.decode()
    assert "Stranger" not in body
    assert "₹2,450.55" in body
    assert reverse("deployment_detail", args=[book["a"].pk]) in body


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "CANCELLED"}, {"sell_a"}),
        ({"status": "working"}, {"buy_b"}),
        ({"side": "BUY"}, {"buy_a", "buy_b"}),
        ({"source": "manual"}, set()),
        ({"date_from": "2026-11-21"}, {"sell_a", "buy_b"}),
        ({"date_to": "2026-11-20"}, {"buy_a"}),
        ({"date_from": "2026-11-21", "date_to": "2026-11-21"}, {"sell_a"}),
        ({"side": "BUY", "date_from": "2026-11-21"}, {"buy_b"}),
    ],
)
def test_filters(owner_client, book, params, expected):
    response = owner_client.get(reverse("order_list"), params)
    assert listed(response) == {book[k].pk for k in expected}


def test_strategy_filter_accepts_only_the_users_strategies(owner_client, book):
    a = book["a"].strategy_id
    response = owner_client.get(reverse("order_list"), {"strategy": a})
    assert listed(response) == {book["buy_a"].pk, book["sell_a"].pk}
    stranger = Order.objects.get(pk=book["stranger"].pk).deployment.strategy_id
    response = owner_client.get(reverse("order_list"), {"strategy": stranger})
    assert book["stranger"].pk not in listed(response)
    assert len(listed(response)) == 3  # an invalid choice narrows nothing


def test_htmx_filter_answers_the_results_and_updates_the_export_link(owner_client, book):
    response = owner_client.get(reverse("order_list"), {"side": "SELL"}, **HTMX_RESULTS)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="order-results">')
    assert 'id="export-csv"' in body and "hx-swap-oob" in body
    assert f"{reverse('order_export')}?side=SELL" in body


def test_pagination(owner_client, user):
    deployment = make_deployment(user)
    start = datetime(2026, 11, 20, 9, 15, tzinfo=IST)
    for i in range(55):
        make_order(deployment, at=start + timedelta(minutes=i))
    first = owner_client.get(reverse("order_list"))
    assert len(first.context["page"].object_list) == 50
    assert first.context["page"].paginator.num_pages == 2
    second = owner_client.get(reverse("order_list"), {"page": 2})
    assert len(second.context["page"].object_list) == 5
    assert "1\u201350 of 55" in first.content.decode()  # en dash


def test_csv_export_has_a_header_and_only_the_filtered_orders_of_the_user(owner_client, book):
    rows = export(owner_client)
    header, body = rows[0], rows[1:]
    assert header[:4] == ["id", "created_at_ist", "updated_at_ist", "strategy"]
    ids = {int(r[0]) for r in body}
    assert ids == {book["buy_a"].pk, book["sell_a"].pk, book["buy_b"].pk}

    rows = export(owner_client, side="BUY", date_from="2026-11-21")
    assert [int(r[0]) for r in rows[1:]] == [book["buy_b"].pk]

    col = dict(zip(header, export(owner_client, status="COMPLETE")[1], strict=True))
    assert col["price"] == "2450.5500" and col["average_price"] == "2450.5500"  # plain decimals
    assert col["trigger_price"] == ""
    assert col["created_at_ist"] == "2026-11-20T09:30:00+05:30"
    assert col["strategy"] == "Alpha" and col["run"] == "1"
    assert col["instrument"] == "NSE:RELIANCE"


def test_csv_export_of_another_users_strategy_is_empty_not_theirs(owner_client, book, other_user):
    stranger = book["stranger"].deployment.strategy_id
    rows = export(owner_client, strategy=stranger)
    assert book["stranger"].pk not in {int(r[0]) for r in rows[1:]}


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_orders_page_queries_do_not_grow_with_orders(owner_client, user):
    deployments = [make_deployment(user, f"S{i}") for i in range(4)]
    for i in range(2):
        make_order(deployments[i % 4])
    two = _queries(owner_client, reverse("order_list"))
    for i in range(18):
        make_order(deployments[i % 4], side="SELL" if i % 2 else "BUY")
    twenty = _queries(owner_client, reverse("order_list"))
    assert Order.objects.count() == 20
    assert two == twenty


def test_csv_export_queries_do_not_grow_with_orders(owner_client, user):
    deployments = [make_deployment(user, f"S{i}") for i in range(3)]
    make_order(deployments[0])
    make_order(deployments[1])
    with CaptureQueriesContext(connection) as two:
        export(owner_client)
    for i in range(18):
        make_order(deployments[i % 3])
    with CaptureQueriesContext(connection) as twenty:
        assert len(export(owner_client)) == 21
    assert len(two.captured_queries) == len(twenty.captured_queries)


def test_empty_states(owner_client, book):
    body = owner_client.get(reverse("order_list"), {"status": "EXPIRED"}).content.decode()
    assert "No orders match these filters" in body


FORMULAS = ['=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("name", FORMULAS)
def test_csv_export_writes_text_that_starts_a_formula_as_text(owner_client, user, name):
    """OWASP's CSV injection rule: a text cell starting ``= + - @``, tab or CR gets a ``'``."""
    deployment = make_deployment(user, name)
    make_order(deployment, status="REJECTED", status_message=name, filled_quantity=0)
    header, row = export(owner_client)
    col = dict(zip(header, row, strict=True))
    assert col["strategy"] == "'" + name
    assert col["status_message"] == "'" + name
    # Numbers stay numbers: quantities and prices are never prefixed.
    assert (col["quantity"], col["filled_quantity"], col["price"]) == ("10", "0", "2450.5500")
