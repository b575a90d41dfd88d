"""Every number and date a client sends has a documented range, checked at the boundary.

The outside probe set risk limits of 10**30 orders and 2**63 orders a minute, and asked for a
backtest of 0001-01-01..9999-12-31, which the job then failed with a raw ``OverflowError``.
The ranges are defined once (``algosaas.bounds``; a strategy type's parameters on its ``Param``)
and read by the API's serializers, the dashboard's forms and the OpenAPI schema alike.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from algosaas import bounds
from execution.models import Backtest
from strategies.forms import StrategyForm
from strategies.models import Strategy
from strategies.tests.factories import StrategyFactory, seeded_instrument

pytestmark = pytest.mark.django_db


def field_errors(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


def strategy_body(**overrides) -> dict:
    body = {
        "name": "Bounded",
        "strategy_type": "sma_crossover",
        "instrument": seeded_instrument().pk,
        "quantity": 5,
    }
    return {**body, **overrides}


@pytest.mark.parametrize(
    "limits",
    [
        {"max_order_quantity": 10**30},
        {"max_orders_per_minute": 2**63},
        {"max_open_orders": 10**6},
        {"max_order_value": "99999999999999.99"},
        {"max_daily_loss": "100000000000.01"},
    ],
)
def test_risk_limits_beyond_their_range_are_refused(api_client, limits):
    body = strategy_body(risk_limits=limits)
    fields = field_errors(api_client.post("/api/strategies/", body, format="json"))
    assert set(fields["risk_limits"]) == set(limits)
    assert not Strategy.objects.exists()


def test_risk_limits_at_their_maximum_are_accepted(api_client):
    limits = {
        "max_order_quantity": bounds.QUANTITY.max,
        "max_orders_per_minute": bounds.ORDERS_PER_MINUTE.max,
        "max_open_orders": bounds.OPEN_ORDERS.max,
        "max_order_value": str(bounds.MONEY_LIMIT.max),
    }
    response = api_client.post("/api/strategies/", strategy_body(risk_limits=limits), format="json")
    assert response.status_code == 201, response.content


def test_a_capital_beyond_its_range_is_refused(api_client):
    body = strategy_body(capital="99999999999999.99")
    assert "capital" in field_errors(api_client.post("/api/strategies/", body, format="json"))


def test_a_backtest_over_the_whole_calendar_is_a_400_naming_both_dates(user, api_client):
    strategy = StrategyFactory(owner=user)
    body = {"start": "0001-01-01", "end": "9999-12-31"}
    fields = field_errors(
        api_client.post(f"/api/strategies/{strategy.pk}/backtests/", body, format="json")
    )
    assert set(fields) == {"start", "end"}
    assert "1900-01-01" in fields["start"][0] and "2099-12-31" in fields["end"][0]
    assert not Backtest.objects.exists()


def test_the_dashboard_backtest_form_refuses_the_same_dates(client, user):
    strategy = StrategyFactory(owner=user)
    client.force_login(user)
    data = {"start": "0001-01-01", "end": "9999-12-31", "slippage_bps": "0"}
    data["close_at_end"] = "close"
    response = client.post(reverse("backtest_new", args=[strategy.pk]), data)
    assert response.status_code == 200
    form = response.context["form"]
    assert {"start", "end"} <= set(form.errors)
    assert not Backtest.objects.exists()
    assert f'max="{bounds.DATE.max:%Y-%m-%d}"' in response.content.decode()


def test_an_order_filter_at_the_end_of_the_calendar_is_ignored_not_a_500(client, user):
    client.force_login(user)
    response = client.get(reverse("order_list"), {"date_to": "9999-12-31"})
    assert response.status_code == 200


def test_the_strategy_form_takes_its_ranges_from_the_same_definition():
    form = StrategyForm(strategy_type="sma_crossover")
    assert form.fields["quantity"].max_value == bounds.QUANTITY.max
    assert form.fields["capital"].max_value == bounds.CAPITAL.max
    assert form.fields["allocation_pct"].max_value == bounds.PERCENT.max
    assert form.fields["param_fast"].max_value == 500  # the catalogue's Param


def _request_properties():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("Request"):
            for prop, spec in component.get("properties", {}).items():
                yield f"{name}.{prop}", spec


def test_the_schema_documents_every_range():
    """Integers and floats carry minimum and maximum; decimal strings and dates say their
    range in their description (JSON Schema bounds only numbers)."""
    seen = 0
    for where, spec in _request_properties():
        kind, fmt = spec.get("type"), spec.get("format")
        if kind in ("integer", "number"):
            assert {"minimum", "maximum"} <= set(spec), where
            seen += 1
        elif kind == "string" and fmt in ("decimal", "date"):
            assert "From " in spec.get("description", ""), where
            seen += 1
    assert seen >= 20


def test_the_ranges_hold_in_their_columns():
    """Each decimal bound fits the database column it is stored in (16 digits, 2 or 4 places)."""
    for bound, places in [
        (bounds.CAPITAL, 2),
        (bounds.MONEY_LIMIT, 2),
        (bounds.PRICE, 4),
    ]:
        assert len(bound.max.quantize(Decimal(1).scaleb(-places)).as_tuple().digits) <= 16
    assert date(1900, 1, 1) in bounds.DATE and date(9999, 12, 31) not in bounds.DATE
