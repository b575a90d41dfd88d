"""Backtest and order requests show their cross-field errors beside the single-field ones."""

from __future__ import annotations

import pytest
from django.urls import reverse

from execution.api.serializers import OrderPlaceSerializer
from execution.forms import OrderTicketForm
from execution.models import Backtest, Instrument
from execution.tests.api.test_backtests_api import collection
from execution.tests.test_views_backtests import form_data
from strategies.tests.factories import StrategyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def strategy(user):
    return StrategyFactory(owner=user, instrument=Instrument.objects.get(symbol="GOOG"))


def test_backtest_form_shows_a_bad_capital_and_an_end_before_start_at_once(client, strategy):
    client.force_login(strategy.owner)
    response = client.post(
        reverse("backtest_new", args=[strategy.pk]),
        form_data(capital="10", start="2012-06-01", end="2012-01-01"),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"capital", "end"}
    assert any("greater than or equal to 1000" in e for e in errors["capital"])
    assert errors["end"] == ["Must not be before start."]
    assert not Backtest.objects.exists()


def test_backtest_form_leaves_a_date_that_did_not_parse_to_its_own_error(client, strategy):
    client.force_login(strategy.owner)
    response = client.post(
        reverse("backtest_new", args=[strategy.pk]), form_data(start="not-a-date", capital="10")
    )
    errors = response.context["form"].errors
    assert set(errors) == {"start", "capital"}
    assert errors["start"] == ["Enter a valid date."]


def test_backtest_api_names_every_field_at_once(api_client, strategy):
    body = {"capital": "5", "slippage_bps": "-1", "start": "2021-06-02", "end": "2021-06-01"}
    response = api_client.post(collection(strategy.pk), body, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"capital", "slippage_bps", "end"}
    assert fields["end"] == ["Must not be before start."]
    assert not Backtest.objects.exists()


def test_order_rules_run_beside_a_bad_quantity():
    body = {"side": "BUY", "order_type": "LIMIT", "quantity": 0}
    checked = OrderPlaceSerializer(data=body)
    assert not checked.is_valid()
    assert set(checked.errors) == {"quantity", "price"}
    assert checked.errors["price"] == ["A LIMIT order needs a price."]
    # The rule on a price waits for the price to parse.
    body = {"side": "BUY", "order_type": "LIMIT", "quantity": 0, "price": "-3"}
    checked = OrderPlaceSerializer(data=body)
    assert not checked.is_valid()
    assert len(checked.errors["price"]) == 1  # its range, not also "needs a price"
    assert "needs a price" not in str(checked.errors["price"][0])


def test_order_ticket_shows_a_bad_quantity_and_a_missing_price_at_once():
    form = OrderTicketForm({"side": "SELL", "order_type": "SL", "quantity": "0", "validity": "DAY"})
    assert not form.is_valid()
    assert set(form.errors) == {"quantity", "price", "trigger_price"}
    assert form.errors["trigger_price"] == ["A SL order needs a trigger price."]
