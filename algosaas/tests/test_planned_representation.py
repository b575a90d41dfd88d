"""The planned rendering of read serializers gives exactly what DRF's own rendering gives."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from algosaas.api.serializers import PlannedRepresentation
from execution.api.serializers import OrderSerializer
from execution.models import (
    Instrument,
    Order,
    OrderStatusChoices,
    OrderTypeChoices,
    SideChoices,
    ValidityChoices,
)
from strategies.models import Deployment

prices = st.none() | st.decimals(
    min_value=Decimal("0.0001"), max_value=Decimal("999999999.9999"), places=4
)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
orders = st.builds(
    lambda pk, dep, strategy, instrument, currency, **fields: Order(
        pk=pk,
        deployment=Deployment(pk=dep, strategy_id=strategy),
        instrument=Instrument(pk=instrument, currency=currency),
        **fields,
    ),
    pk=st.integers(1, 2**62),
    dep=st.integers(1, 2**31),
    strategy=st.integers(1, 2**31),
    instrument=st.integers(1, 2**31),
    currency=st.sampled_from(["INR", "USD", "USDT"]),
    client_order_id=st.text(max_size=64),
    broker_order_id=st.text(max_size=64),
    side=st.sampled_from(SideChoices.values),
    order_type=st.sampled_from(OrderTypeChoices.values),
    product=st.sampled_from(["CNC", "MIS"]),
    validity=st.sampled_from(ValidityChoices.values),
    quantity=st.integers(0, 10**9),
    price=prices,
    trigger_price=prices,
    filled_quantity=st.integers(0, 10**9),
    pending_quantity=st.integers(0, 10**9),
    average_price=prices,
    status=st.sampled_from(OrderStatusChoices.values),
    status_message=st.text(max_size=50),
    broker_status=st.text(max_size=20),
    denial_rule=st.text(max_size=20),
    source=st.sampled_from(["strategy", "manual"]),
    created_at=times,
    updated_at=times,
)


@settings(max_examples=300, deadline=None)
@given(order=orders, zone=st.sampled_from(["UTC", "Asia/Kolkata"]))
def test_an_order_renders_as_drf_renders_it(order, zone):
    serializer = OrderSerializer()
    with timezone.override(zone):
        planned = OrderSerializer(order).data
        drf = serializers.ModelSerializer.to_representation(serializer, order)
    assert planned == drf
    assert list(planned) == list(drf)  # same keys in the same order


def test_a_page_of_orders_renders_as_drf_renders_it():
    rows = [
        Order(
            pk=n,
            deployment=Deployment(pk=7, strategy_id=3),
            instrument=Instrument(pk=2, currency="USD"),
            side="BUY",
            quantity=n,
            price=Decimal("101.25") if n % 2 else None,
            created_at=datetime(2026, 11, 20, 4, 45, tzinfo=UTC),
            updated_at=datetime(2026, 11, 20, 4, 45, tzinfo=UTC),
        )
        for n in range(1, 4)
    ]
    planned = OrderSerializer(rows, many=True).data
    drf = [serializers.ModelSerializer.to_representation(OrderSerializer(), o) for o in rows]
    assert planned == drf
    assert planned[0]["price"] == "101.2500" and planned[1]["price"] is None
    assert planned[0]["strategy"] == 3 and planned[0]["deployment"] == 7
    assert planned[0]["currency"] == "USD"


def test_a_source_that_is_not_a_column_is_refused():
    """A property or method would need DRF's callable handling: the plan says so at once."""

    class WithProperty(PlannedRepresentation, serializers.ModelSerializer):
        label = serializers.CharField(source="__str__")

        class Meta:
            model = Order
            fields = ["id", "label"]

    with pytest.raises(TypeError, match="not a column"):
        WithProperty(Order(pk=1)).data  # noqa: B018
