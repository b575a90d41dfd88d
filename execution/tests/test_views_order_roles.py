"""Order lists read right: leg roles, broker order types, percentages that show a small loss."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from django.urls import reverse

from algosaas.templatetags.percent import pct, pct_signed
from execution.forms import OrderTicketForm
from execution.tests.test_views_orders import IST, export, listed, make_deployment, make_order
from execution.views.backtests import format_stat

pytestmark = pytest.mark.django_db
AT = datetime(2026, 11, 20, 10, 15, tzinfo=IST)


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def reversal(user):
    """A flip: an exit and an entry of the same side and size at the same second, then a
    square-off and a manual order."""
    d = make_deployment(user, "Flipper")
    common = {"side": "SELL", "order_type": "MARKET", "price": None, "quantity": 10, "at": AT}
    return {
        "deployment": d,
        "exit": make_order(d, client_order_id=f"d{d.pk}-1-x", role="exit", **common),
        "entry": make_order(d, client_order_id=f"d{d.pk}-1-e", role="entry", **common),
        "square_off": make_order(
            d,
            client_order_id=f"d{d.pk}-2-sq",
            role="square_off",
            side="BUY",
            order_type="MARKET",
            price=None,
        ),
        "manual": make_order(
            d, client_order_id=f"m{d.pk}-k1", role="manual", source="manual", order_type="SL"
        ),
    }


def _roles_by_order(body: str) -> dict[int, str]:
    """``{order id: role label}`` read from the rows of an order table."""
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    found = {}
    for row in rows:
        pk = re.search(r"#(\d+)</span>", row)
        role = re.search(r'class="table-sub order-role" data-role="(\w+)">([^<]+)<', row)
        if pk and role:
            found[int(pk[1])] = role[2]
    return found


def test_orders_page_labels_every_leg_with_its_role(owner_client, reversal):
    body = owner_client.get(reverse("order_list")).content.decode()
    assert _roles_by_order(body) == {
        reversal["exit"].pk: "Exit",
        reversal["entry"].pk: "Entry",
        reversal["square_off"].pk: "Square-off",
        reversal["manual"].pk: "Manual",
    }
    assert ">strategy<" not in body  # the square-off once read "strategy"


def test_deployment_page_labels_every_leg_with_its_role(owner_client, reversal):
    url = reverse("deployment_detail", args=[reversal["deployment"].pk])
    body = owner_client.get(url).content.decode()
    history = body[body.index('id="orders"') :]
    assert _roles_by_order(history) == {
        reversal["exit"].pk: "Exit",
        reversal["entry"].pk: "Entry",
        reversal["square_off"].pk: "Square-off",
        reversal["manual"].pk: "Manual",
    }


def test_overview_recent_orders_show_roles(owner_client, reversal):
    body = owner_client.get(reverse("overview")).content.decode()
    assert 'data-role="square_off">Square-off<' in body
    assert 'data-role="exit">Exit<' in body


def test_role_filter_on_the_orders_page(owner_client, reversal):
    response = owner_client.get(reverse("order_list"), {"role": "square_off"})
    assert listed(response) == {reversal["square_off"].pk}
    body = response.content.decode()
    assert '<option value="square_off" selected>Square-off</option>' in body


def test_csv_export_has_the_role(owner_client, reversal):
    rows = export(owner_client)
    header, body = rows[0], rows[1:]
    roles = {int(r[0]): dict(zip(header, r, strict=True))["role"] for r in body}
    assert roles == {
        reversal["exit"].pk: "exit",
        reversal["entry"].pk: "entry",
        reversal["square_off"].pk: "square_off",
        reversal["manual"].pk: "manual",
    }


def test_api_lists_and_filters_by_role(api_client, reversal):
    rows = api_client.get("/api/orders/", {"page_size": 50}).json()["results"]
    assert {r["client_order_id"]: r["role"] for r in rows} == {
        o.client_order_id: o.role for k, o in reversal.items() if k != "deployment"
    }
    both = api_client.get("/api/orders/", {"role": ["exit", "square_off"]}).json()["results"]
    assert {r["id"] for r in both} == {reversal["exit"].pk, reversal["square_off"].pk}
    bad = api_client.get("/api/orders/", {"role": "strategy"})
    assert bad.status_code == 400 and "role" in bad.json()["error"]["fields"]


def test_order_types_read_as_brokers_write_them(reversal):
    assert reversal["manual"].get_order_type_display() == "SL"
    labels = [label for _, label in OrderTicketForm.base_fields["order_type"].choices]
    assert labels == ["MARKET", "LIMIT", "SL", "SL-M"]


@pytest.mark.parametrize(
    ("value", "plain", "signed"),
    [
        (-0.002195, "-0.0022%", "-0.0022%"),  # a ₹21.95 loss on ₹10 lakh
        (0.0049, "0.0049%", "+0.0049%"),
        (12.345, "12.35%", "+12.35%"),
        (-33.93, "-33.93%", "-33.93%"),
        (0, "0.00%", "0.00%"),
        (None, "—", "—"),
    ],
)
def test_percentages_keep_small_moves_visible(value, plain, signed):
    assert pct(value) == plain
    assert pct_signed(value) == signed


def test_backtest_statistics_never_show_a_loss_as_zero():
    assert format_stat(-0.002195, "pct_signed") == "-0.0022%"
    assert format_stat(0.5, "pct_signed") == "+0.50%"
    assert format_stat(None, "pct") == "—"
