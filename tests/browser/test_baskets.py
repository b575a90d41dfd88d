"""Baskets in a real browser: the backtest page draws each member's equity curve (one line per
member, labelled with its return on its cap), and a basket deployed to paper trading shows a
position per member and the basket's total on its live page."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.browser.conftest import Artifacts, logged_in
from tests.factories import TEST_PASSWORD

try:
    from playwright.sync_api import expect
except ImportError:  # the ``browser`` fixture skips (or, under CI, fails) with the reason
    expect = None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

EMAIL = "basket.trader@example.com"
SYMBOLS = ["INFY", "TCS", "HDFCBANK"]


@pytest.fixture
def basket() -> dict[str, int]:
    from execution.models import Backtest, BacktestStatus, Instrument
    from execution.services.backtests import backtest_request
    from strategies import services
    from strategies.tests.factories import ensure_seeded_instruments
    from tests.factories import UserFactory

    ensure_seeded_instruments()
    owner = UserFactory(email=EMAIL)
    strategy = services.strategy_create(
        owner=owner,
        name="Three IT names",
        strategy_type="sma_crossover",
        params={"fast": 5, "slow": 20, "mode": "long_only"},
        timeframe="1d",
        capital=Decimal("300000"),
        allocation_pct=Decimal("100"),
        instruments=[
            {"instrument": Instrument.objects.get(exchange="NSE", symbol=s), "allocation_pct": None}
            for s in SYMBOLS
        ],
    )
    bt = backtest_request(
        strategy=strategy, user=owner, start=date(2021, 1, 1), end=date(2022, 12, 31)
    )
    assert Backtest.objects.get(pk=bt.pk).status == BacktestStatus.COMPLETE
    deployment = services.strategy_deploy(strategy=strategy, actor=owner)
    return {"backtest": bt.pk, "deployment": deployment.pk}


def test_basket_backtest_and_live_pages(basket, new_tab, artifacts: Artifacts):
    page = new_tab().page
    logged_in(page, email=EMAIL, password=TEST_PASSWORD)

    page.goto(f"/app/backtests/{basket['backtest']}/")
    chart = page.locator('[data-chart="basket-equity"]')
    expect(chart).to_have_attribute("data-chart-ready", "1")
    legend = page.locator('.chart-legend:has(+ [data-chart="basket-equity"])')
    for symbol in SYMBOLS:
        expect(legend).to_contain_text(f"NSE:{symbol}")
    lines = chart.evaluate("el => el.lwChart.panes()[0].getSeries().length")
    assert lines == len(SYMBOLS)
    artifacts.shot(page, "basket backtest with each member's equity")

    page.goto(f"/app/deployments/{basket['deployment']}/")
    expect(page.locator("h1 + .sub")).to_contain_text(
        "basket of 3: NSE:INFY, NSE:TCS, NSE:HDFCBANK"
    )
    book = page.locator("#live-book")
    for symbol in SYMBOLS:
        expect(book).to_contain_text(f"NSE:{symbol}")
    expect(page.locator("[data-basket-total]")).to_contain_text("Basket total")
    artifacts.shot(page, "basket live page")

    # the price chart shows the member picked, and the ticket trades the member picked
    price = page.locator('[data-live-chart="price"]')
    expect(price).to_have_attribute("data-instrument", "NSE:INFY")
    page.locator("[data-live-chart-member]").select_option(label="NSE:TCS")
    expect(price).to_have_attribute("data-instrument", "NSE:TCS")
    ticket = page.locator("#order-ticket")
    ticket.locator('select[name="instrument"]').select_option(label="NSE:HDFCBANK")
    ticket.locator('input[name="quantity"]').fill("1")
    ticket.locator('button[type="submit"]').click()
    expect(page.locator("body")).to_contain_text("HDFCBANK MARKET")
    artifacts.shot(page, "basket live page: chart of TCS, a manual order on HDFCBANK")
    from execution.models import Order

    order = Order.objects.get(deployment_id=basket["deployment"], source="manual")
    assert order.instrument.symbol == "HDFCBANK"
