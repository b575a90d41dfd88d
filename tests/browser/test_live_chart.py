"""The live page's price chart as a trader sees it: candles and the strategy's lines on a canvas,
the last price in the header, and a fresh replay that says how many bars its indicators still
need, counting down as the replay releases bars.

No cluster: the chart reads the deployment's feed directly (the synthetic walk, a pure function
of time, or the replay's stored bars released on the wall clock), so it moves without steps.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import Artifacts

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
CHART = "[data-live-chart='price']"


def _remaining(page) -> int:
    return int(page.locator("[data-live-chart-remaining]").inner_text())


def test_chart_draws_candles_lines_and_the_last_price(signed_in, artifacts: Artifacts):
    from execution.tests.factories import chart_strategy, deploy

    tab = signed_in(EMAIL)
    page = tab.page
    pk = deploy(chart_strategy(tab.user, name="SMA 5/15")).pk
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


def test_a_fresh_replay_counts_its_warm_up_down(signed_in, artifacts: Artifacts):
    from execution.tests.factories import chart_strategy, deploy, replay_instrument

    tab = signed_in(EMAIL)
    page = tab.page
    instrument = replay_instrument("WARMCHART", bars=60)
    pk = deploy(
        chart_strategy(tab.user, instrument=instrument, name="Replay warm-up"),
        feed="replay",
        seconds_per_bar=2.0,
    ).pk
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


def test_fills_are_drawn_where_they_happened(signed_in, artifacts: Artifacts):
    from execution.models import Trade
    from execution.services.live import order_place
    from execution.tests.factories import QUIET_RSI, chart_strategy, deploy
    from tests.factories import UserFactory

    owner = UserFactory(email=EMAIL)
    deployment = deploy(
        chart_strategy(owner, strategy_type="rsi_reversion", params=QUIET_RSI, timeframe="5s")
    )
    pk = deployment.pk
    _next_bar()
    _step_now(pk)  # a market price for the manual orders
    for side in ("BUY", "SELL"):
        order_place(deployment=deployment, side=side, order_type="MARKET", quantity=10)
        _next_bar()
        _next_bar()
        _step_now(pk)
    fills = list(Trade.objects.filter(deployment=deployment).order_by("executed_at"))
    assert [f.side for f in fills] == ["BUY", "SELL"]

    tab = signed_in(EMAIL)
    page = tab.page
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
