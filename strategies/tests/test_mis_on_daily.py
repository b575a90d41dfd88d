"""MIS (intraday) on daily bars is refused by field: 400 in the API, an inline form error."""

from __future__ import annotations

import pytest
from django.urls import reverse

from strategies.models import Strategy
from strategies.services import MIS_ON_DAILY
from strategies.tests.api.strategy_api import URL, detail, error, payload
from strategies.tests.factories import StrategyFactory
from strategies.tests.test_views import form_data

pytestmark = pytest.mark.django_db


def test_api_refuses_mis_on_daily_naming_the_product(api_client):
    response = api_client.post(URL, payload(timeframe="1d", product="MIS"), format="json")
    assert response.status_code == 400, response.content
    err = error(response)
    assert err["fields"]["product"] == [MIS_ON_DAILY]
    assert not Strategy.objects.exists()


def test_api_accepts_mis_intraday_and_cnc_daily(api_client):
    assert (
        api_client.post(URL, payload(timeframe="5m", product="MIS"), format="json").status_code
        == 201
    )
    daily = payload(name="Daily", timeframe="1d", product="CNC")
    assert api_client.post(URL, daily, format="json").status_code == 201


def test_api_refuses_switching_an_mis_strategy_to_daily(api_client, user):
    strategy = StrategyFactory(owner=user, timeframe="5m", product="MIS")
    response = api_client.patch(detail(strategy.pk), {"timeframe": "1d"}, format="json")
    assert response.status_code == 400
    assert "product" in error(response)["fields"]
    strategy.refresh_from_db()
    assert strategy.timeframe == "5m"


def test_form_shows_the_error_on_the_product_field(client, user):
    client.force_login(user)
    response = client.post(reverse("strategies:create"), form_data(timeframe="1d", product="MIS"))
    assert response.status_code == 200
    assert response.context["form"].errors["product"] == [MIS_ON_DAILY]
    assert MIS_ON_DAILY in response.content.decode()
    assert not Strategy.objects.filter(owner=user).exists()
