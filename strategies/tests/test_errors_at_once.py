"""A strategy's cross-field errors (fast >= slow) show together with its other errors."""

from __future__ import annotations

import pytest
from django.urls import reverse

from execution.models import Instrument
from strategies import catalog
from strategies.models import Strategy
from strategies.tests.api.strategy_api import URL, error, payload, post
from strategies.tests.factories import StrategyFactory
from strategies.tests.test_views import form_data, page_messages

pytestmark = pytest.mark.django_db
FAST_SLOW = "Fast period (30) must be shorter than slow period (20)."


def test_catalogue_reports_a_bad_parameter_and_the_cross_rule_together():
    with pytest.raises(catalog.ParamsInvalid) as caught:
        catalog.get("sma_crossover").validate_params({"fast": 30, "slow": 20, "mode": "sideways"})
    assert set(caught.value.errors) == {"mode", "fast"}
    assert caught.value.errors["fast"] == [FAST_SLOW]
    # A rule waits for the parameters it compares: "ten" is no period to compare.
    with pytest.raises(catalog.ParamsInvalid) as caught:
        catalog.get("sma_crossover").validate_params({"fast": "ten", "slow": 20})
    assert caught.value.errors == {"fast": ["Must be an integer."]}


def test_form_shows_a_blank_name_and_fast_not_below_slow_at_once(client, user):
    client.force_login(user)
    response = client.post(
        reverse("strategies:create"), form_data(name="", param_fast="30", param_slow="20")
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["name"] == ["This field is required."]
    assert errors["param_fast"] == [FAST_SLOW]
    assert page_messages(response) == ["Not saved: check the highlighted fields."]
    assert not Strategy.objects.filter(owner=user).exists()


def test_form_shows_a_bad_capital_and_the_cross_rule_at_once(client, user):
    client.force_login(user)
    response = client.post(
        reverse("strategies:create"),
        form_data(capital="5", param_fast="30", param_slow="20", param_mode="sideways"),
    )
    errors = response.context["form"].errors
    assert set(errors) == {"capital", "param_fast", "param_mode"}
    assert errors["param_fast"] == [FAST_SLOW]


def test_api_create_names_every_field_at_once(api_client):
    body = payload(name="", params={"fast": 30, "slow": 20})
    response = post(api_client, URL, body)
    assert response.status_code == 400
    fields = error(response)["fields"]
    assert set(fields) == {"name", "params"}
    assert fields["params"] == {"fast": [FAST_SLOW]}
    assert not Strategy.objects.exists()


def test_api_patch_checks_params_against_the_strategys_own_type(api_client, user):
    strategy = StrategyFactory(owner=user, params={"fast": 10, "slow": 20, "mode": "long_only"})
    response = api_client.patch(
        f"{URL}{strategy.pk}/",
        {"capital": "1", "params": {"fast": 30, "slow": 20}},
        format="json",
    )
    assert response.status_code == 400
    fields = error(response)["fields"]
    assert set(fields) == {"capital", "params"}
    assert fields["params"] == {"fast": [FAST_SLOW]}


def test_form_and_api_report_whole_lots_beside_a_blank_name(client, api_client, user):
    lot = Instrument.objects.create(exchange="NSE", symbol="LOTTY", lot_size=50)
    client.force_login(user)
    response = client.post(
        reverse("strategies:create"),
        form_data(name="", instrument=lot.pk, sizing="quantity", quantity="75"),
    )
    errors = response.context["form"].errors
    assert set(errors) == {"name", "quantity"}
    assert errors["quantity"] == ["Must be a multiple of the lot size (50)."]

    body = payload(name="", instrument=lot.pk, quantity=75, allocation_pct=None)
    fields = error(post(api_client, URL, body))["fields"]
    assert set(fields) == {"name", "quantity"}
    assert fields["quantity"] == ["Must be a multiple of the lot size (50)."]
    assert not Strategy.objects.exists()
