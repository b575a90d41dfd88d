"""The live page's price chart as a trader sees it: candles and the strategy's lines on a canvas,
the last price in the header, and a fresh replay that says how many bars its indicators still
need, counting down as the replay releases bars.

No cluster: the chart reads the deployment's feed directly (the synthetic walk, a pure function
of time, or the replay's stored bars released on the wall clock), so it moves without steps.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
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

EMAIL = "chart@example.com"
SMA_5_15 = {"fast": 5, "slow": 15, "mode": "long_only"}
CHART = "[data-live-chart='price']"


def _strategy(owner, **overrides):
    from strategies.tests.factories import StrategyFactory, seeded_instrument

    fields = {
        "owner": owner,
        "name": "SMA 5/15",
        "strategy_type": "sma_crossover",
        "params": dict(SMA_5_15),
        "instrument": seeded_instrument("RELIANCE"),
        "timeframe": "1m",
        "quantity": 10,
        "allocation_pct": None,
        "product": "MIS",
        "capital": Decimal("100000.00"),
    }
    fields.update(overrides)
    return StrategyFactory(**fields)


def _deploy(strategy, **kwargs) -> int:
    from strategies import services

    return services.strategy_deploy(strategy=strategy, actor=strategy.owner, **kwargs).pk


def _replay_instrument():
    from execution.marketdata.csvbars import ParsedBar
    from execution.services.marketdata import bars_import, instrument_get_or_create

    instrument, _ = instrument_get_or_create(
        exchange="NSE", symbol="WARMCHART", tick_size=Decimal("0.05"), lot_size=1
    )
    start = datetime(2024, 6, 11, 3, 45, tzinfo=UTC)
    bars = [
        ParsedBar(start + timedelta(minutes=i), Decimal(100 + i % 7), Decimal(103 + i % 7),
                  Decimal(98 + i % 7), Decimal(101 + i % 5), 1_000)
        for i in range(60)
    ]  # fmt: skip
    bars_import(instrument=instrument, timeframe="1m", bars=bars)
    return instrument


def _remaining(page) -> int:
    return int(page.locator("[data-live-chart-remaining]").inner_text())


def test_chart_draws_candles_lines_and_the_last_price(new_tab, artifacts: Artifacts):
    from tests.factories import UserFactory

    owner = UserFactory(email=EMAIL)
    pk = _deploy(_strategy(owner))
    tab = new_tab("trader")
    page = tab.page
    logged_in(page, email=EMAIL, password=TEST_PASSWORD)
    page.goto(f"/app/deployments/{pk}/")

    chart = page.locator(CHART)
    expect(chart.locator("canvas").first).to_be_visible()
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 200
    data = page.evaluate("() => JSON.parse(document.getElementById('live-chart-data').textContent)")
    assert len(data["candles"]) > 16 and data["warmup"]["remaining"] == 0
    # candles plus the fast and slow SMA in the price pane, every candle drawn
    assert (
        page.evaluate(
            f'() => document.querySelector("{CHART}").lwChart.panes()[0].getSeries().length'
        )
        == 3
    )
    expect(chart).to_have_attribute("data-candles", str(len(data["candles"])))
    legend = page.locator(f".chart-legend:has(+ {CHART})")
    expect(legend).to_contain_text("SMA 15")

    # The last price, while flat: the header tile and the position row, never "—".
    tile = page.locator("[data-tile='last-price']")
    expect(tile).to_have_text(re.compile(r"^₹[\d,]+\.\d{2}$"))
    assert float(tile.inner_text().lstrip("₹").replace(",", "")) == pytest.approx(
        data["last"]["close"], abs=0.001
    )
    expect(page.locator("[data-cell='last-price']")).to_have_text(tile.inner_text())
    expect(page.locator("[data-live-chart-warmup]")).to_be_hidden()

    # A pushed event (the WebSocket's) asks for what is new at once.
    before = int(chart.get_attribute("data-refreshes") or 0)
    page.evaluate(
        "() => document.dispatchEvent(new CustomEvent('algosaas:live-event',"
        " {detail: {type: 'equity'}}))"
    )
    expect(chart).to_have_attribute("data-refreshes", re.compile(rf"^(?!{before}$)\d+$"))
    assert not tab.errors, tab.errors
    assert not tab.csp, tab.csp
    artifacts.shot(page, "live price chart")


def test_a_fresh_replay_counts_its_warm_up_down(new_tab, artifacts: Artifacts):
    from tests.factories import UserFactory

    owner = UserFactory(email=EMAIL)
    instrument = _replay_instrument()
    pk = _deploy(
        _strategy(owner, instrument=instrument, name="Replay warm-up"),
        feed="replay",
        seconds_per_bar=2.0,
    )
    tab = new_tab("trader")
    page = tab.page
    logged_in(page, email=EMAIL, password=TEST_PASSWORD)
    page.goto(f"/app/deployments/{pk}/")

    warmup = page.locator("[data-live-chart-warmup]")
    expect(warmup).to_be_visible()
    expect(warmup).to_contain_text("Indicators ready in")
    first = _remaining(page)
    assert 0 < first <= 16
    expect(page.locator(f"{CHART} canvas").first).to_be_visible()
    artifacts.shot(page, "warming up")

    # The page's poll brings the released bars: the count goes down, the candles up.
    page.wait_for_function(
        "(n) => Number(document.querySelector('[data-live-chart-remaining]').textContent) < n",
        arg=first,
        timeout=20_000,
    )
    candles, remaining = page.evaluate(
        f"""() => [Number(document.querySelector("{CHART}").dataset.candles),
                   Number(document.querySelector('[data-live-chart-remaining]').textContent)]"""
    )
    assert candles > 0 and candles + remaining == 16  # every released bar drawn, and counted
    expect(page.locator("[data-tile='last-price']")).to_have_text(re.compile(r"^₹[\d,]+\.\d{2}$"))
    expect(page.locator("[data-tile='warmup']")).to_contain_text("Indicators ready in")
    assert not tab.errors, tab.errors
    assert not tab.csp, tab.csp
    artifacts.shot(page, "warm-up counting down")


def _step_now(pk: int) -> None:
    from execution.services.live import deployment_step

    deployment_step(deployment_id=pk)


def _next_bar(seconds: int = 5) -> None:
    """Sleep until just after the next bar boundary, so a bar has closed."""
    time.sleep(seconds - time.time() % seconds + 0.2)


def test_fills_are_drawn_where_they_happened(new_tab, artifacts: Artifacts):
    from execution.models import Trade
    from execution.services.live import order_place
    from strategies.models import Deployment
    from tests.factories import UserFactory

    owner = UserFactory(email=EMAIL)
    quiet = {"period": 100, "oversold": 1.0, "overbought": 99.0, "mode": "long_only"}
    pk = _deploy(_strategy(owner, strategy_type="rsi_reversion", params=quiet, timeframe="5s"))
    deployment = Deployment.objects.get(pk=pk)
    _next_bar()
    _step_now(pk)  # a market price for the manual orders
    for side in ("BUY", "SELL"):
        order_place(deployment=deployment, side=side, order_type="MARKET", quantity=10)
        _next_bar()
        _next_bar()
        _step_now(pk)
    fills = list(Trade.objects.filter(deployment=deployment).order_by("executed_at"))
    assert [f.side for f in fills] == ["BUY", "SELL"]

    tab = new_tab("trader")
    page = tab.page
    logged_in(page, email=EMAIL, password=TEST_PASSWORD)
    page.goto(f"/app/deployments/{pk}/")
    expect(page.locator(f"{CHART} canvas").first).to_be_visible()
    drawn = page.evaluate(
        f"""() => document.querySelector("{CHART}").liveChartMarkers.markers()
              .map(m => [m.time, m.price, m.shape])"""
    )
    ist = 19_800
    assert drawn == [
        [int(f.executed_at.timestamp()) // 5 * 5 + ist, float(f.price), shape]
        for f, shape in zip(fills, ("arrowUp", "arrowDown"), strict=True)
    ]
    assert not tab.errors, tab.errors
    artifacts.shot(page, "fills on the chart")
