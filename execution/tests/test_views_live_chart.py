"""The live page's price: the chart's candles, indicator lines and fill markers, the last price
and the warm-up count.

The clock the services read is pinned (and moved by the tests), so every answer is compared
with the bars the feed gives at that moment, computed here independently of the view.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from algosaas.templatetags.money import price
from execution.engine import indicators as ind
from execution.marketdata.sources import SyntheticSource, synthetic_key
from execution.models import DeploymentState, Trade
from execution.services.live import deployment_step, order_place
from execution.services.live_chart import CHART_BARS
from execution.tests.factories import QUIET_RSI, SMA_5_15, deploy, replay_instrument
from execution.tests.factories import chart_strategy as make_strategy
from strategies import catalog, services
from strategies.models import Deployment

T0 = datetime(2026, 1, 5, 4, 0, 2, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr("django.utils.timezone.now", c)
    return c


def feed_window(deployment: Deployment, now: datetime):
    """The bars the engine reads at ``now``: the synthetic feed's closed bars since its start."""
    live = DeploymentState.objects.get(pk=deployment.pk)
    inst = deployment.config["instrument"]
    source = SyntheticSource(
        instrument_key=synthetic_key(inst["exchange"], inst["symbol"]),
        interval_s=live.interval_s,
        tick_size=float(inst["tick_size"]),
    )
    return source.closed_bars(since_ts=live.history_start_ts, now_ts=int(now.timestamp()))


def chart(client, deployment, **params):
    response = client.get(reverse("deployment_chart", args=[deployment.pk]), params)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def deployment(user, clock):
    return deploy(make_strategy(user))


@pytest.fixture
def quiet(user, clock):
    deployment = deploy(make_strategy(user, strategy_type="rsi_reversion", params=QUIET_RSI))
    clock.advance(minutes=1)
    deployment_step(deployment_id=deployment.pk)  # a market price for the manual orders
    return deployment


# --- candles --------------------------------------------------------------------------------


def test_candles_are_the_feeds_closed_bars_the_newest_500(owner_client, deployment, clock):
    data = chart(owner_client, deployment)
    bars = feed_window(deployment, clock.now)
    assert 0 < len(bars) < CHART_BARS  # the warm-up history before the deploy
    assert data["candles"] == [
        [t, o, h, lo, c]
        for t, o, h, lo, c in zip(
            bars.ts.tolist(), bars.open.tolist(), bars.high.tolist(),
            bars.low.tolist(), bars.close.tolist(), strict=True,
        )
    ]  # fmt: skip
    assert data["interval"] == 60 and data["live"] is True

    clock.advance(hours=10)  # 600 more one-minute bars
    data = chart(owner_client, deployment)
    bars = feed_window(deployment, clock.now)
    assert len(data["candles"]) == CHART_BARS
    assert [c[0] for c in data["candles"]] == bars.ts[-CHART_BARS:].tolist()
    assert data["last"] == {"time": int(bars.ts[-1]), "close": float(bars.close[-1])}
    # the newest candle is the bar that closed last: it opened a minute before the last boundary
    assert data["candles"][-1][0] == (int(clock.now.timestamp()) // 60 - 1) * 60


def test_since_sends_only_the_new_bars(owner_client, deployment, clock):
    first = chart(owner_client, deployment)
    newest = first["candles"][-1][0]
    clock.advance(minutes=3)
    data = chart(owner_client, deployment, since=newest)
    assert [c[0] for c in data["candles"]] == [newest + 60, newest + 120, newest + 180]
    for line in data["lines"]:
        assert [p[0] for p in line["points"]] == [newest + 60, newest + 120, newest + 180]
    assert chart(owner_client, deployment, since=newest + 180)["candles"] == []


@pytest.mark.parametrize("since", ["yesterday", "1.5", "-5", str(2**60)])
def test_a_bad_since_is_a_400_naming_the_field(owner_client, deployment, since):
    response = owner_client.get(reverse("deployment_chart", args=[deployment.pk]), {"since": since})
    assert response.status_code == 400
    assert list(response.json()["error"]) == ["since"]


# --- indicators -----------------------------------------------------------------------------

RULES = {
    "entry_long": {
        "all": [
            {
                "left": {"indicator": "ema", "period": 4},
                "op": "crosses_above",
                "right": {"indicator": "bb_mid", "period": 12},
            },
            {"left": {"indicator": "rsi", "period": 6}, "op": "<", "right": {"const": 70.0}},
        ]
    },
    "exit_long": {
        "left": {"price": "close"},
        "op": "<",
        "right": {"indicator": "donchian_low", "period": 8},
    },
}


def _expected(stype: str, params: dict, bars) -> dict[str, np.ndarray]:
    c = bars.close
    if stype == "sma_crossover":
        return {"fast": ind.sma(c, params["fast"]), "slow": ind.sma(c, params["slow"])}
    if stype == "ema_crossover":
        return {"fast": ind.ema(c, params["fast"]), "slow": ind.ema(c, params["slow"])}
    if stype == "rsi_reversion":
        return {"rsi": ind.rsi(c, params["period"])}
    if stype == "bollinger_reversion":
        mid, upper, lower = ind.bollinger(c, params["period"], params["width"])
        return {"upper": upper, "mid": mid, "lower": lower}
    if stype == "donchian_breakout":
        high, low = ind.donchian(bars.high, bars.low, params["entry"])
        xhigh, xlow = ind.donchian(bars.high, bars.low, params["exit"])
        return {"entry_high": high, "entry_low": low, "exit_high": xhigh, "exit_low": xlow}
    return {
        "ema(4)": ind.ema(c, 4),
        "bb_mid(12)": ind.bollinger(c, 12, 2.0)[0],
        "rsi(6)": ind.rsi(c, 6),
        "donchian_low(8)": ind.donchian(bars.high, bars.low, 8)[1],
    }


@pytest.mark.parametrize(
    ("stype", "params"),
    [
        ("sma_crossover", SMA_5_15),
        ("ema_crossover", {"fast": 4, "slow": 9, "mode": "long_short"}),
        ("rsi_reversion", {"period": 7, "oversold": 25.0, "overbought": 75.0, "mode": "long_only"}),
        ("bollinger_reversion", {"period": 12, "width": 1.5, "mode": "long_only"}),
        ("donchian_breakout", {"entry": 10, "exit": 5, "mode": "long_short"}),
        ("rules", RULES),
    ],
)
def test_indicator_lines_are_the_engines_indicators_on_the_same_bars(
    owner_client, user, clock, stype, params
):
    deployment = deploy(make_strategy(user, strategy_type=stype, params=params))
    clock.advance(minutes=90)
    data = chart(owner_client, deployment)
    bars = feed_window(deployment, clock.now)
    expected = _expected(stype, deployment.config["params"], bars)
    assert {line["key"] for line in data["lines"]} == set(expected)
    shown = set(bars.ts[-CHART_BARS:].tolist())
    for line in data["lines"]:
        want = [
            [t, v]
            for t, v in zip(bars.ts.tolist(), expected[line["key"]].tolist(), strict=True)
            if t in shown and not np.isnan(v)
        ]
        assert line["points"] == want, line["key"]  # exactly equal floats, not approximately
        assert line["points"], line["key"]
    panes = {line["key"]: line["pane"] for line in data["lines"]}
    if stype == "rsi_reversion":
        assert panes == {"rsi": "rsi"}
        assert data["lines"][0]["levels"] == [25.0, 75.0]
    if stype == "rules":
        assert panes["rsi(6)"] == "rsi" and panes["ema(4)"] == "price"


# --- markers --------------------------------------------------------------------------------


def test_markers_sit_on_the_bar_and_price_of_each_fill(owner_client, quiet, clock):
    deployment = quiet
    order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=10)
    clock.advance(minutes=2)
    deployment_step(deployment_id=deployment.pk)
    order_place(deployment=deployment, side="SELL", order_type="MARKET", quantity=10)
    clock.advance(minutes=2)
    deployment_step(deployment_id=deployment.pk)
    fills = list(Trade.objects.filter(deployment=deployment).order_by("executed_at", "id"))
    assert [f.side for f in fills] == ["BUY", "SELL"]

    data = chart(owner_client, deployment)
    candles = {c[0]: c for c in data["candles"]}
    assert [(m["side"], m["quantity"], m["price"], m["role"]) for m in data["markers"]] == [
        (f.side, f.quantity, float(f.price), "Manual") for f in fills
    ]
    for marker, fill in zip(data["markers"], fills, strict=True):
        bar = candles[marker["time"]]
        assert marker["time"] <= int(fill.executed_at.timestamp()) < marker["time"] + 60
        assert bar[3] <= marker["price"] <= bar[2]  # within the bar's low-high
    # a refresh with ?since= still has every marker: a fill can land on a bar already drawn
    assert (
        chart(owner_client, deployment, since=data["candles"][-1][0])["markers"]
        == (data["markers"])
    )


# --- last price and warm-up on the page -----------------------------------------------------


def _tile(content: str, name: str) -> str:
    match = re.search(rf'data-tile="{name}">([^<]*)<', content)
    assert match, name
    return html.unescape(match.group(1))


def test_last_price_is_shown_while_flat(owner_client, deployment, clock):
    bars = feed_window(deployment, clock.now)
    last = price(Decimal(repr(float(bars.close[-1]))), "INR")
    for name in ("deployment_detail", "deployment_live"):
        content = owner_client.get(reverse(name, args=[deployment.pk])).content.decode()
        assert _tile(content, "last-price") == last
        # whose price it is (a basket's tile shows its primary member's)
        assert _tile(content, "last-price-symbol") == deployment.config["instrument"]["symbol"]
        cell = re.search(r'data-cell="last-price">([^<]*)<', content)
        assert html.unescape(cell.group(1)) == last  # the flat position's row, not "—"
    assert deployment.positions.get().quantity == 0


def _replay_deployment(user) -> Deployment:
    instrument = replay_instrument("WARMUP", bars=40)
    strategy = make_strategy(user, instrument=instrument, name="replay warm-up")
    return deploy(strategy, feed="replay", seconds_per_bar=10.0)


def test_warm_up_counts_down_as_bars_arrive(owner_client, user, clock):
    deployment = _replay_deployment(user)
    needed = catalog.get("sma_crossover").warmup_bars(SMA_5_15)
    assert needed == 16  # the slow SMA's 15 bars, and one more for a cross

    seen = []
    for seconds in (0, 50, 100, 160):
        clock.now = T0 + timedelta(seconds=seconds)
        data = chart(owner_client, deployment)
        seen.append((len(data["candles"]), data["warmup"]["remaining"]))
        page = owner_client.get(reverse("deployment_detail", args=[deployment.pk])).content
        page = page.decode()
        remaining = data["warmup"]["remaining"]
        note = re.search(r'<div class="callout info live-warmup"[^>]*>', page).group(0)
        tile = re.search(r'data-tile="warmup">([^<]*)<', page).group(1)
        if remaining:
            assert "hidden" not in note
            assert tile == f"Indicators ready in {remaining} bars"
            assert f"Indicators ready in <span data-live-chart-remaining>{remaining}</span>" in page
        else:
            assert "hidden" in note
            assert tile.startswith("close of the ")
    assert seen == [(0, 16), (5, 11), (10, 6), (16, 0)]


def test_a_stopped_runs_chart_ends_at_its_last_processed_bar(owner_client, deployment, clock):
    clock.advance(minutes=5)
    deployment_step(deployment_id=deployment.pk)
    cursor = DeploymentState.objects.get(pk=deployment.pk).cursor_ts
    services.strategy_stop(strategy=deployment.strategy, actor=deployment.strategy.owner)
    clock.advance(hours=1)
    data = chart(owner_client, deployment)
    assert data["candles"][-1][0] == cursor and data["live"] is False


# --- access and cost ------------------------------------------------------------------------


def test_login_required_and_another_users_deployment_is_404(client, other_user, deployment):
    url = reverse("deployment_chart", args=[deployment.pk])
    assert client.get(url).status_code == 302
    client.force_login(other_user)
    assert client.get(url).status_code == 404
    assert client.get(reverse("deployment_chart", args=[10**9])).status_code == 404


def test_queries_do_not_grow_with_bars_or_fills(owner_client, quiet, clock):
    deployment = quiet
    url = reverse("deployment_chart", args=[deployment.pk])
    with CaptureQueriesContext(connection) as before:
        owner_client.get(url)
    for side in ("BUY", "SELL", "BUY", "SELL"):
        order_place(deployment=deployment, side=side, order_type="MARKET", quantity=10)
        clock.advance(minutes=30)
        deployment_step(deployment_id=deployment.pk)
    assert Trade.objects.filter(deployment=deployment).count() == 4
    with CaptureQueriesContext(connection) as after:
        owner_client.get(url)
    assert len(after.captured_queries) == len(before.captured_queries) <= 6


def test_a_run_without_a_feed_claims_no_warm_up(owner_client, deployment):
    DeploymentState.objects.filter(pk=deployment.pk).delete()  # a runner that runs nothing
    data = chart(owner_client, deployment)
    assert (data["candles"], data["last"], data["live"]) == ([], None, False)
    assert data["warmup"]["remaining"] == 0
    page = owner_client.get(reverse("deployment_detail", args=[deployment.pk])).content.decode()
    assert _tile(page, "last-price") == "—"
    assert re.search(r'data-tile="warmup">no live feed<', page)


def test_the_strategys_own_fills_are_marked_entry_and_exit(owner_client, deployment, clock):
    clock.advance(hours=3)
    deployment_step(deployment_id=deployment.pk)
    fills = list(Trade.objects.filter(deployment=deployment).select_related("order"))
    assert len(fills) >= 2  # SMA 5/15 on one-minute bars crosses within three hours
    data = chart(owner_client, deployment)
    first = data["candles"][0][0]
    shown = [f for f in fills if f.executed_at.timestamp() >= first]
    assert len(data["markers"]) == len(shown)
    assert {m["role"] for m in data["markers"]} <= {"Entry", "Exit"}
    by_id = {f.pk: f for f in shown}
    for m in data["markers"]:
        assert m["role"] == by_id[m["id"]].order.get_role_display()
