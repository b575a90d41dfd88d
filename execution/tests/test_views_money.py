"""Money in the instrument's currency on every page, costs that fit the exchange, the MIS
default on intraday timeframes and the backtest form's round-trip charges estimate."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from execution.models import Backtest, Order
from strategies import services
from strategies.models import Strategy
from strategies.tests.factories import StrategyFactory, seeded_instrument


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def goog(user):
    return StrategyFactory(
        owner=user,
        name="GOOG cross",
        instrument=seeded_instrument("GOOG"),
        capital=Decimal("10000"),
    )


@pytest.fixture
def reliance(user):
    return StrategyFactory(
        owner=user,
        name="Reliance 1m",
        instrument=seeded_instrument("RELIANCE"),
        timeframe="1m",
        product="CNC",
        capital=Decimal("1000000"),
    )


def checkbox(body: str, name: str) -> str:
    return re.search(rf'<input[^>]*name="{name}"[^>]*>', body).group(0)


# --- the backtest form: defaults from the exchange, and the estimate ---------------------------


def test_the_backtest_form_of_an_nse_strategy_ticks_indian_charges_in_rupees(
    owner_client, reliance
):
    body = owner_client.get(reverse("backtest_new", args=[reliance.pk])).content.decode()
    assert "checked" in checkbox(body, "apply_charges")
    assert "Starting capital (₹)" in body
    assert "₹10,00,000.00" in body  # the strategy's capital, lakh grouping
    assert "$" not in body.split('id="charges-estimate"')[1].split("</div>")[0]
    assert "Estimated charges per round trip" in body


def test_the_backtest_form_of_a_nasdaq_strategy_defaults_to_a_flat_commission_in_dollars(
    owner_client, goog
):
    body = owner_client.get(reverse("backtest_new", args=[goog.pk])).content.decode()
    assert "checked" not in checkbox(body, "apply_charges")
    assert re.search(r'<input[^>]*name="commission_pct"[^>]*value="0.01"', body)
    assert "Starting capital ($)" in body
    estimate = body.split('id="charges-estimate"')[1]
    assert "$2.00" in estimate  # 0.01 % of $10,000 on entry and on exit


def test_the_defaults_of_a_nasdaq_form_queue_a_flat_commission_backtest(
    owner_client, goog, django_capture_on_commit_callbacks
):
    """Submitting the form as it comes (every field at its default) runs without Indian charges."""
    url = reverse("backtest_new", args=[goog.pk])
    form = owner_client.get(url).context["form"]
    data = {}
    for field in form:
        value = field.value()
        if isinstance(value, bool):
            if value:
                data[field.name] = "on"
        elif value is not None:
            data[field.name] = str(value)
    with django_capture_on_commit_callbacks(execute=False):
        response = owner_client.post(url, data)
    assert response.status_code == 302
    bt = Backtest.objects.get()
    assert (bt.charges, bt.commission_pct) == ("none", Decimal("0.0100"))


def test_the_estimate_follows_the_forms_capital_and_costs(owner_client, goog):
    url = reverse("backtest_estimate", args=[goog.pk])
    body = owner_client.get(url, {"capital": "50000", "commission_pct": "0.1"}).content.decode()
    assert "$100.00" in body  # 0.1 % of $50,000, twice
    body = owner_client.get(url, {"capital": "50000"}).content.decode()
    assert "$0.00" in body  # no commission and the charges box unticked: nothing


def test_the_estimate_of_cnc_on_one_minute_bars_points_at_mis(owner_client, reliance):
    url = reverse("backtest_estimate", args=[reliance.pk])
    body = owner_client.get(url, {"apply_charges": "on"}).content.decode()
    total = re.search(r"data-estimate-total>(₹[\d,.]+)<", body).group(1)
    assert total.startswith("₹2,")  # about 0.2 % of ₹10 lakh: delivery STT on both legs
    assert "as MIS (intraday) the same round trip would cost ₹" in body


def test_the_estimate_names_a_bad_field_instead_of_failing(owner_client, goog):
    response = owner_client.get(reverse("backtest_estimate", args=[goog.pk]), {"capital": "abc"})
    assert response.status_code == 200
    assert "No estimate" in response.content.decode() and "Capital" in response.content.decode()


def test_the_estimate_of_someone_elses_strategy_is_a_404(owner_client, other_user):
    theirs = StrategyFactory(owner=other_user)
    assert owner_client.get(reverse("backtest_estimate", args=[theirs.pk])).status_code == 404


def test_the_estimate_needs_a_login(client, goog):
    response = client.get(reverse("backtest_estimate", args=[goog.pk]))
    assert response.status_code == 302


# --- the strategy form: MIS on intraday timeframes ---------------------------------------------


def strategy_data(**overrides) -> dict:
    data = {
        "name": "Scalper",
        "strategy_type": "sma_crossover",
        "instrument": seeded_instrument("RELIANCE").pk,
        "timeframe": "1m",
        "sizing": "allocation",
        "allocation_pct": "100",
        "capital": "100000",
        "param_fast": "5",
        "param_slow": "15",
        "param_mode": "long_only",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(("timeframe", "default"), [("1m", "MIS"), ("5s", "MIS"), ("1d", "CNC")])
def test_a_strategy_gets_its_timeframes_product_unless_one_is_chosen(
    owner_client, timeframe, default
):
    url = reverse("strategies:create")
    response = owner_client.post(url, strategy_data(name="Default", timeframe=timeframe))
    assert response.status_code == 302, response.context["form"].errors
    assert Strategy.objects.get(name="Default").product == default
    chosen = "CNC" if default == "MIS" else "MIS"  # the user's explicit choice wins
    response = owner_client.post(
        url, strategy_data(name="Chosen", timeframe=timeframe, product=chosen)
    )
    assert response.status_code == 302, response.context["form"].errors
    assert Strategy.objects.get(name="Chosen").product == chosen


def test_the_strategy_form_wires_the_product_to_the_timeframe(owner_client):
    body = owner_client.get(reverse("strategies:create")).content.decode()
    assert re.search(r'<select[^>]*name="timeframe"[^>]*data-timeframe-intraday="[^"]*1m', body)
    assert re.search(r'<select[^>]*name="product"[^>]*data-product-default', body)
    assert "js/product-default.js" in body


# --- every page in the instrument's currency --------------------------------------------------


def test_strategy_pages_show_a_nasdaq_strategys_capital_in_dollars(owner_client, goog):
    body = owner_client.get(reverse("strategies:detail", args=[goog.pk])).content.decode()
    assert "$10,000.00" in body and "₹10,000.00" not in body
    listing = owner_client.get(reverse("strategies:list")).content.decode()
    assert "$10,000.00" in listing


def test_a_deployment_page_and_its_chart_are_in_dollars(owner_client, user, goog):
    deployment = services.strategy_deploy(strategy=goog, actor=user)
    body = owner_client.get(reverse("deployment_detail", args=[deployment.pk])).content.decode()
    assert "$10,000" in body and "₹" not in body
    data = json.loads(re.search(r'id="equity-data"[^>]*>(.*?)</script>', body).group(1))
    assert data["currency"] == "USD"
    listing = owner_client.get(reverse("deployment_list")).content.decode()
    assert "$10,000" in listing


def test_orders_show_each_instruments_currency(owner_client, user, goog, reliance):
    for strategy, price in ((goog, "530.10"), (reliance, "2450.55")):
        deployment = services.strategy_deploy(strategy=strategy, actor=user)
        Order.objects.create(
            deployment=deployment,
            instrument=strategy.instrument,
            client_order_id=f"m-{strategy.pk}",
            side="BUY",
            order_type="LIMIT",
            product="CNC",
            validity="DAY",
            quantity=1,
            price=Decimal(price),
            status="OPEN",
            created_at=timezone.now(),
            updated_at=timezone.now(),
        )
    body = owner_client.get(reverse("order_list")).content.decode()
    assert "$530.10" in body and "₹2,450.55" in body
    overview = owner_client.get(reverse("overview")).content.decode()
    assert "$530.10" in overview and "₹2,450.55" in overview


def test_the_overview_totals_each_currency_apart(owner_client, user, goog, reliance):
    services.strategy_deploy(strategy=goog, actor=user)
    services.strategy_deploy(strategy=reliance, actor=user)
    response = owner_client.get(reverse("overview"))
    totals = {t["currency"]: t["equity"] for t in response.context["totals"]}
    assert totals == {"INR": Decimal("1000000.00"), "USD": Decimal("10000.00")}
    tile = re.search(r'data-tile="total-equity">(.*?)</div>', response.content.decode()).group(1)
    assert "₹10,00,000.00" in tile and "$10,000.00" in tile
