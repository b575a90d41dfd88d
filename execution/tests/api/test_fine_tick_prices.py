"""Prices finer than four places survive DB → engine → order → fill → API, on the instrument's tick.

An FX pair on a 0.00001 tick: stored bars, a replayed deployment, a manual limit order at
1.23456 placed through the API, filled by the paper broker at its limit, read back through the
order, trade and position endpoints. A crypto tick of 1e-8 goes through the paper broker alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from execution.brokers.base import OrderRequest
from execution.brokers.paper import PaperBroker
from execution.engine.charges import ZeroCharges
from execution.engine.config import InstrumentSpec
from execution.marketdata.csvbars import ParsedBar
from execution.models import Order, Position, Trade
from execution.services.live import deployment_step
from execution.services.marketdata import bars_import, instrument_get_or_create
from execution.tests.live.conftest import deploy, live_of, make_strategy

pytestmark = pytest.mark.django_db

LIMIT = "1.23456"


def _fx_bars() -> list[ParsedBar]:
    """Six flat bars above the limit, then six that trade through it (lows at 1.23400)."""
    start = datetime(2024, 6, 11, 3, 45, tzinfo=UTC)
    above = ("1.24000", "1.24100", "1.23900", "1.24000")
    through = ("1.23500", "1.23600", "1.23400", "1.23500")
    return [
        ParsedBar(start + timedelta(minutes=i), *map(Decimal, above if i < 6 else through), 1000)
        for i in range(12)
    ]


def test_a_five_decimal_price_round_trips_through_the_engine_and_the_api(user, api_client, client):
    instrument, _ = instrument_get_or_create(
        exchange="FX", symbol="EURUSD", tick_size=Decimal("0.00001")
    )
    assert bars_import(instrument=instrument, timeframe="1m", bars=_fx_bars()) == 12
    strategy = make_strategy(user, instrument=instrument, timeframe="1m", quantity=1000,
                             params={"fast": 2, "slow": 5, "mode": "long_only"})  # fmt: skip
    deployment = deploy(strategy, feed="replay", seconds_per_bar=10.0)
    origin = live_of(deployment).replay_origin_ts

    placed = api_client.post(
        f"/api/deployments/{deployment.pk}/orders/",
        {"side": "BUY", "order_type": "LIMIT", "quantity": 1000, "price": LIMIT},
        format="json",
    )
    assert placed.status_code == 201, placed.content
    assert placed.json()["price"] == LIMIT and placed.json()["status"] == "OPEN"
    order = Order.objects.get(pk=placed.json()["id"])
    assert order.price == Decimal(LIMIT)

    for seconds in (30, 130):  # bars 0-2 (above the limit), then the rest (through it)
        deployment_step(
            deployment_id=deployment.pk, now=datetime.fromtimestamp(origin + seconds, UTC)
        )

    order.refresh_from_db()
    assert (order.status, order.average_price) == ("COMPLETE", Decimal(LIMIT))
    fill = Trade.objects.get(order=order)
    assert fill.price == Decimal(LIMIT)
    assert Position.objects.get(deployment=deployment).average_price == Decimal(LIMIT)

    got = api_client.get(f"/api/orders/{order.pk}/").json()
    assert (got["price"], got["average_price"]) == (LIMIT, LIMIT)
    trades = api_client.get(f"/api/deployments/{deployment.pk}/trades/").json()["results"]
    assert [t["price"] for t in trades if t["order"] == order.pk] == [LIMIT]
    positions = api_client.get(f"/api/deployments/{deployment.pk}/positions/").json()["results"]
    assert positions[0]["average_price"] == LIMIT and positions[0]["last_price"] == "1.2350"
    listed = api_client.get("/api/instruments/", {"exchange": "FX"}).json()["results"]
    assert (listed[0]["tick_size"], listed[0]["currency"]) == ("0.00001", "USD")

    # the dashboard shows it too (not rounded to paise), and so does the CSV export
    client.force_login(user)
    page = client.get(reverse("deployment_detail", args=[deployment.pk])).content.decode()
    assert "$1.23456" in page  # FX:EURUSD is quoted in dollars
    export = b"".join(client.get(reverse("order_export")).streaming_content).decode()
    assert f",{LIMIT}," in export and "1.23456000" not in export


def test_an_off_tick_price_is_refused_naming_it(user, api_client):
    instrument, _ = instrument_get_or_create(
        exchange="FX", symbol="GBPUSD", tick_size=Decimal("0.00001")
    )
    bars_import(instrument=instrument, timeframe="1m", bars=_fx_bars())
    strategy = make_strategy(user, instrument=instrument, timeframe="1m", quantity=1000)
    deployment = deploy(strategy, feed="replay", seconds_per_bar=10.0)

    response = api_client.post(
        f"/api/deployments/{deployment.pk}/orders/",
        {"side": "BUY", "order_type": "LIMIT", "quantity": 1000, "price": "1.234565"},
        format="json",
    )
    assert response.status_code == 201, response.content  # placed, and REJECTED by the broker
    order = Order.objects.get(deployment=deployment, source="manual")
    assert order.status == "REJECTED"
    assert order.status_message == "price 1.234565 is not a multiple of the tick size 0.00001"


def test_the_paper_broker_keeps_crypto_prices_on_a_1e_8_tick():
    """43210.12345678 is 4.3e12 ticks: float error there is ~1e-3 of a tick, not 1e-6."""
    spec = InstrumentSpec("BTCUSDT", "CRYPTO", tick_size=1e-8, lot_size=1, allow_short_cnc=True)
    broker = PaperBroker([spec], starting_cash=1e9, charges=ZeroCharges())
    prices = [43210.12345678, 98765.43210987, 65000.00000001, 12345.6789012]
    for i, price in enumerate(prices):
        placed = broker.place_order(
            OrderRequest(client_order_id=f"c{i}", symbol="BTCUSDT", side="BUY",
                         order_type="LIMIT", quantity=1, product="CNC", price=price)
        )  # fmt: skip
        assert placed.status == "OPEN", (price, placed.status_message)
    # rounding to the tick (slippage, SL-M) lands on the nearest tick, not one beyond
    for price in prices:
        assert broker._to_tick(price, "BTCUSDT", True) == price
        assert broker._to_tick(price, "BTCUSDT", False) == price
    assert broker._to_tick(43210.123456785, "BTCUSDT", True) == 43210.12345679
    assert broker._to_tick(43210.123456785, "BTCUSDT", False) == 43210.12345678
