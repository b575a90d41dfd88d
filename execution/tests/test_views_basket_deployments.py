"""The live page of a basket run: a position per member with its cap, the basket's total,
and the instrument of every order and trade; a manual ticket that names the member."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from algosaas.errors import DomainError
from execution.models import Order, Position, Trade
from execution.services.live import deployment_step, order_place
from execution.tests.live.conftest import at, deploy, make_strategy
from strategies.baskets import basket_replace
from strategies.tests.factories import seeded_instrument

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def basket_run(user):
    rel, tcs, infy = (seeded_instrument(s) for s in ("RELIANCE", "TCS", "INFY"))
    strategy = make_strategy(user, name="trio", capital=Decimal("300000.00"))
    basket_replace(
        strategy=strategy,
        members=[
            {"instrument": rel, "allocation_pct": Decimal("50")},
            {"instrument": tcs, "allocation_pct": None},
            {"instrument": infy, "allocation_pct": None},
        ],
    )
    deployment = deploy(strategy)
    for k in range(30):
        deployment_step(deployment_id=deployment.pk, now=at(deployment, k))
    return deployment, [rel, tcs, infy]


def test_live_page_shows_each_member_and_the_basket_total(owner_client, basket_run):
    deployment, instruments = basket_run
    assert Order.objects.filter(deployment=deployment).values("instrument").distinct().count() > 1

    body = owner_client.get(reverse("deployment_detail", args=[deployment.pk])).content.decode()
    assert "basket of 3: NSE:RELIANCE, NSE:TCS, NSE:INFY" in body
    assert "data-basket-total" in body and "Basket total" in body
    assert "cap 50 %" in body and "cap 33.33 %" in body  # the others: an equal split
    ticket = body[body.index('id="order-ticket"') :]
    assert 'name="quantity"' in ticket and 'name="instrument"' in ticket
    for inst in instruments:  # the ticket's member select
        assert f'<option value="{inst.pk}"' in ticket and str(inst) in ticket

    live = owner_client.get(reverse("deployment_live", args=[deployment.pk]), **HTMX)
    html = live.content.decode()
    positions = [str(p.instrument) for p in Position.objects.filter(deployment=deployment)]
    assert sorted(positions) == sorted(str(i) for i in instruments)
    assert all(html.count(name) >= 1 for name in positions)
    # the orders table names each order's member
    order = Order.objects.filter(deployment=deployment).order_by("-created_at").first()
    row = html[html.index(f"#{order.pk}<") :][:600]
    assert str(order.instrument) in row
    trade = Trade.objects.filter(deployment=deployment).select_related("order__instrument")
    assert f"order #{trade[0].order_id} · {trade[0].order.instrument}" in html


def test_a_manual_order_on_a_basket_is_refused_naming_the_field(basket_run):
    deployment, _ = basket_run
    with pytest.raises(DomainError) as err:
        order_place(
            deployment=deployment, side="BUY", order_type="MARKET", quantity=10, product="MIS"
        )
    assert "instrument" in err.value.fields


def test_the_api_refuses_a_manual_order_on_a_basket_with_a_400(api_client, basket_run):
    deployment, _ = basket_run
    before = Order.objects.filter(deployment=deployment).count()
    resp = api_client.post(
        f"/api/deployments/{deployment.pk}/orders/",
        {"side": "BUY", "order_type": "MARKET", "quantity": 10},
        format="json",
    )
    assert resp.status_code == 400
    assert "instrument" in resp.json()["error"]["fields"]
    assert Order.objects.filter(deployment=deployment).count() == before


def test_the_api_places_cancels_a_manual_order_on_the_member_it_names(api_client, basket_run):
    deployment, (_, tcs, _) = basket_run
    resp = api_client.post(
        f"/api/deployments/{deployment.pk}/orders/",
        {"side": "BUY", "order_type": "LIMIT", "quantity": 1, "price": "1.00",
         "product": "MIS", "instrument": "TCS"},
        format="json",
    )  # fmt: skip
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert (body["instrument"], body["source"], body["status"]) == (tcs.pk, "manual", "OPEN")
    modified = api_client.patch(f"/api/orders/{body['id']}/", {"price": "2.00"}, format="json")
    assert modified.status_code == 200 and Decimal(modified.json()["price"]) == Decimal("2")
    cancelled = api_client.delete(f"/api/orders/{body['id']}/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    assert Order.objects.get(pk=body["id"]).instrument_id == tcs.pk


def test_the_api_refuses_an_instrument_outside_the_basket(api_client, basket_run):
    deployment, _ = basket_run
    other = seeded_instrument("HDFCBANK")
    before = Order.objects.filter(deployment=deployment).count()
    for ref in (other.symbol, str(other.pk)):
        resp = api_client.post(
            f"/api/deployments/{deployment.pk}/orders/",
            {"side": "BUY", "order_type": "MARKET", "quantity": 1, "instrument": ref},
            format="json",
        )
        assert resp.status_code == 400
        assert "instrument" in resp.json()["error"]["fields"]
    assert Order.objects.filter(deployment=deployment).count() == before


def test_the_ticket_places_an_order_on_the_chosen_member(owner_client, basket_run):
    deployment, (_, _, infy) = basket_run
    resp = owner_client.post(
        reverse("deployment_order_place", args=[deployment.pk]),
        {"side": "BUY", "order_type": "LIMIT", "quantity": 1, "price": "1.00",
         "validity": "DAY", "instrument": str(infy.pk)},
        **HTMX,
    )  # fmt: skip
    assert resp.status_code == 200
    order = Order.objects.get(deployment=deployment, source="manual")
    assert (order.instrument_id, order.status) == (infy.pk, "OPEN")
    assert "INFY" in resp.headers.get("HX-Trigger", "") + resp.content.decode()


def test_the_ticket_refuses_a_missing_member_inline(owner_client, basket_run):
    deployment, _ = basket_run
    resp = owner_client.post(
        reverse("deployment_order_place", args=[deployment.pk]),
        {"side": "BUY", "order_type": "MARKET", "quantity": 1, "validity": "DAY"},
        **HTMX,
    )
    html = resp.content.decode()
    assert not Order.objects.filter(deployment=deployment, source="manual").exists()
    field = html[html.index('name="instrument"') - 400 :][:1200]
    assert "has-error" in field and "required" in field.lower()


# ----------------------------------------------------------------------------- the chart


def _chart(client, deployment, instrument=None):
    url = reverse("deployment_chart", args=[deployment.pk])
    return client.get(url, {"instrument": instrument} if instrument is not None else {})


def test_the_chart_draws_the_member_asked_for_with_its_own_fills(
    owner_client, basket_run, monkeypatch
):
    deployment, instruments = basket_run
    last_step = at(deployment, 29)  # the page looks when the last step ran
    monkeypatch.setattr("execution.services.live_chart.timezone.now", lambda: last_step)
    primary = _chart(owner_client, deployment).json()
    assert primary["instrument"]["id"] == instruments[0].pk
    assert [m["label"] for m in primary["members"]] == [str(i) for i in instruments]
    seen = set()
    for inst in instruments:
        for ref in (str(inst.pk), inst.symbol):
            data = _chart(owner_client, deployment, ref).json()
            assert data["instrument"] == {"id": inst.pk, "label": str(inst)}
            position = Position.objects.get(deployment=deployment, instrument=inst)
            # the chart's last candle is the close the step marked the member's position at
            assert Decimal(repr(data["candles"][-1][4])) == position.last_price
            assert data["last"]["close"] == data["candles"][-1][4]
            fills = Trade.objects.filter(deployment=deployment, order__instrument=inst)
            assert len(data["markers"]) == fills.count()
            assert {m["id"] for m in data["markers"]} == set(fills.values_list("id", flat=True))
        seen.add(tuple(c[4] for c in data["candles"]))
    assert len(seen) == len(instruments)  # three different price series


def test_the_chart_refuses_an_instrument_outside_the_run(owner_client, basket_run, user):
    deployment, _ = basket_run
    other = seeded_instrument("HDFCBANK")
    for ref in (other.symbol, str(other.pk), "NOPE"):
        resp = _chart(owner_client, deployment, ref)
        assert resp.status_code == 400 and "instrument" in resp.json()["error"]
    single = deploy(make_strategy(user, name="solo", instrument=other))
    assert _chart(owner_client, single, other.symbol).status_code == 200
    assert _chart(owner_client, single, "TCS").status_code == 400


def test_someone_elses_basket_chart_is_a_404(client, basket_run, django_user_model):
    deployment, instruments = basket_run
    client.force_login(django_user_model.objects.create_user("intruder", password="x" * 12))
    assert _chart(client, deployment, instruments[1].symbol).status_code == 404


def test_the_page_offers_every_member_on_the_chart_and_its_last_price(owner_client, basket_run):
    deployment, instruments = basket_run
    body = owner_client.get(reverse("deployment_detail", args=[deployment.pk])).content.decode()
    chart = body[body.index('id="live-price"') :]
    select = chart[chart.index("data-live-chart-member") : chart.index("</select>")]
    assert all(f'<option value="{i.pk}"' in select for i in instruments)
    book = body[body.index('id="live-book"') :]
    book = book[: book.index("</tbody>")]
    for inst in instruments:
        row = book[book.index(str(inst)) :]
        cell = row[row.index('data-cell="last-price"') :][:120]
        last = Position.objects.get(deployment=deployment, instrument=inst).last_price
        assert last is not None and "—" not in cell.split("</td>")[0]


def test_open_orders_lead_with_the_member_and_fit_a_narrow_card(owner_client, basket_run):
    """The open-orders card sits in a column beside the ticket: a basket's rows lead with the
    member (cut short if long, its title whole), the number and time under it, and the
    trigger under the price, so the table needs no side scroll at 1280 px (the browser
    journey measures it)."""
    deployment, (_, _, infy) = basket_run
    order = order_place(
        deployment=deployment,
        side="SELL",
        order_type="SL",
        quantity=1,
        price=Decimal("1.00"),
        trigger_price=Decimal("1.05"),
        instrument=str(infy.pk),
    )
    html = owner_client.get(reverse("deployment_live", args=[deployment.pk]), **HTMX)
    card = html.content.decode().split('id="open-orders"')[1].split("</table>")[0]
    heads = re.findall(r"<th(?:\s[^>]*)?>([^<]*)<", card)
    assert heads == ["Member", "Side · role", "Type", "Qty", "Price", "Status", ""]
    row = card[card.index(f"#{order.pk} ·") - 200 :].split("</tr>")[0]
    assert f'class="mono strong member-name" title="{infy}">{infy}</span>' in row
    price_cell = row.split('class="num nowrap">')[1].split("</td>")[0]
    assert "₹1.00" in price_cell and "trigger ₹1.05" in price_cell
