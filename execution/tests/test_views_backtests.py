"""The backtest pages: the form, the result page with its progress poll, charts and stats, lists.

Backtests are requested through the real service; in test settings the django-q2 job runs
synchronously when the request's transaction commits.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from execution.engine.stats import STAT_KEYS
from execution.models import Backtest, BacktestStatus, Instrument
from strategies.services import strategy_config_snapshot
from strategies.tests.factories import StrategyFactory, ensure_seeded_instruments

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def goog(db) -> Instrument:
    ensure_seeded_instruments()
    return Instrument.objects.get(exchange="NASDAQ", symbol="GOOG")


@pytest.fixture
def strategy(user, goog):
    return StrategyFactory(
        owner=user,
        name="GOOG cross",
        instrument=goog,
        params={"fast": 10, "slow": 20, "mode": "long_short"},
        capital=Decimal("10000.00"),
        product="CNC",
    )


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


def make_backtest(strategy, **fields) -> Backtest:
    """A backtest row in a given state, as the job would leave it (no job is queued)."""
    values = {
        "owner": strategy.owner,
        "strategy": strategy,
        "config": strategy_config_snapshot(strategy),
        "capital": strategy.capital,
    }
    values.update(fields)
    if values.get("status") in (BacktestStatus.QUEUED, BacktestStatus.RUNNING, None):
        values.setdefault("lease_expires_at", timezone.now() + timedelta(minutes=5))  # live work
    return Backtest.objects.create(**values)


def form_data(**overrides) -> dict[str, str]:
    data = {
        "start": "2011-01-01",
        "end": "2012-12-31",
        "capital": "",
        "apply_charges": "on",
        "commission_pct": "",
        "slippage_bps": "0",
        "close_at_end": "close",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def chart_data(response) -> dict:
    match = re.search(
        r'<script id="bt-chart-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the result page embeds its chart data"
    return json.loads(match.group(1))


def toast_of(response) -> dict:
    return json.loads(response["HX-Trigger"])["toast"]


# --- access ---------------------------------------------------------------------------------


def _urls(strategy, bt):
    return [
        reverse("backtest_list"),
        reverse("backtest_new", args=[strategy.pk]),
        reverse("backtest_detail", args=[bt.pk]),
        reverse("backtest_progress", args=[bt.pk]),
    ]


def test_pages_require_login(client, strategy):
    bt = make_backtest(strategy)
    for url in _urls(strategy, bt):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_owner_sees_the_pages(owner_client, strategy):
    bt = make_backtest(strategy)
    for url in _urls(strategy, bt):
        assert owner_client.get(url).status_code == 200, url


def test_another_users_backtest_and_strategy_are_404(client, other_user, strategy):
    bt = make_backtest(strategy)
    client.force_login(other_user)
    for url in _urls(strategy, bt)[1:]:
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("backtest_new", args=[strategy.pk]), form_data()).status_code == 404
    assert not Backtest.objects.exclude(pk=bt.pk).exists()


def test_list_shows_only_the_users_backtests(owner_client, strategy, other_user, goog):
    mine = make_backtest(strategy)
    theirs = make_backtest(StrategyFactory(owner=other_user, name="Not mine", instrument=goog))
    body = owner_client.get(reverse("backtest_list")).content.decode()
    assert reverse("backtest_detail", args=[mine.pk]) in body
    assert reverse("backtest_detail", args=[theirs.pk]) not in body
    assert "Not mine" not in body


# --- the form -------------------------------------------------------------------------------


def test_form_renders_with_the_strategy_defaults(owner_client, strategy):
    response = owner_client.get(reverse("backtest_new", args=[strategy.pk]))
    body = response.content.decode()
    assert 'type="date"' in body
    # GOOG trades on NASDAQ: dollars, and a flat commission rather than Indian charges
    checkbox = re.search(r'<input[^>]*name="apply_charges"[^>]*>', body).group(0)
    assert "checked" not in checkbox
    assert re.search(r'<input[^>]*name="commission_pct"[^>]*value="0.01"', body)
    assert "$10,000.00" in body  # the blank-capital default, in the instrument's currency
    assert "₹10,000.00" not in body


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"capital": "10"}, "capital", "greater than or equal to 1000"),
        ({"slippage_bps": "5000"}, "slippage_bps", "less than or equal to 1000"),
        ({"commission_pct": "-1"}, "commission_pct", "greater than or equal to 0"),
        ({"start": "not-a-date"}, "start", "Enter a valid date"),
        ({"start": "2012-06-01", "end": "2012-01-01"}, "end", "before start"),
    ],
)
def test_invalid_input_shows_the_error_next_to_its_field(
    owner_client, strategy, overrides, field, text
):
    response = owner_client.post(
        reverse("backtest_new", args=[strategy.pk]), form_data(**overrides)
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert field in form.errors, form.errors
    assert any(text in e for e in form.errors[field]), form.errors
    body = response.content.decode()
    assert 'class="field has-error' in body
    assert text in body
    assert not Backtest.objects.exists()


def test_a_refusal_from_the_service_is_shown(owner_client, strategy, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_ACTIVE_BACKTESTS_PER_USER": 1}
    make_backtest(strategy, status=BacktestStatus.RUNNING)
    response = owner_client.post(reverse("backtest_new", args=[strategy.pk]), form_data())
    assert response.status_code == 200
    assert any("queued or running" in str(e) for e in response.context["form"].non_field_errors())
    assert next(str(m) for m in response.context["messages"]).startswith("Not started")
    assert Backtest.objects.count() == 1


def test_a_requested_backtest_completes_and_shows_stats_and_charts(
    owner_client, strategy, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("backtest_new", args=[strategy.pk]),
            form_data(capital="20000", slippage_bps="5"),
        )
    bt = Backtest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("backtest_detail", args=[bt.pk])
    assert (bt.capital, bt.slippage_bps, bt.charges) == (
        Decimal("20000.00"),
        Decimal("5.00"),
        "india_equity",
    )
    bt.refresh_from_db()
    assert bt.status == BacktestStatus.COMPLETE, bt.error

    response = owner_client.get(response["Location"])
    body = response.content.decode()
    assert response.status_code == 200
    # Every statistic is on the page, formatted.
    for key in STAT_KEYS:
        assert f'data-stat="{key}"' in body, key
    assert "$" in body and "%" in body  # GOOG's money in dollars
    assert "₹" not in body
    # Charts: containers plus their data.
    assert 'data-chart="backtest-equity"' in body
    assert 'data-chart="backtest-price"' in body
    assert "lightweight-charts.standalone.production.js" in body
    data = chart_data(response)
    assert len(data["equity"]) == bt.equity.count() > 0
    _ts, equity, _drawdown = data["equity"][-1]
    assert equity == pytest.approx(bt.stats["final_equity"])
    assert all(p[2] <= 0 for p in data["equity"])
    assert data["candles"] and all(len(c) == 5 for c in data["candles"])
    assert all(
        c[2] >= max(c[1], c[4]) - 1e-9 and c[3] <= min(c[1], c[4]) + 1e-9 for c in data["candles"]
    )
    assert sum(m["fills"] for m in data["markers"]) == 2 * bt.trades.count()  # entry + exit
    keys = [(m["time"], m["buy"]) for m in data["markers"]]
    assert len(keys) == len(set(keys))  # one marker per candle and side
    assert {m["buy"] for m in data["markers"]} == {True, False}
    candle_times = {c[0] for c in data["candles"]}
    assert all(m["time"] in candle_times for m in data["markers"])
    # The trades table, P&L coloured; no more polling.
    assert 'id="bt-trades"' in body
    assert re.search(r'class="num strong (up|down|zero)"', body)
    assert 'hx-trigger="every 1s"' not in body
    # Deploy this configuration posts to the strategy's deploy view.
    assert f'action="{reverse("strategies:deploy", args=[strategy.pk])}"' in body


def test_a_backtest_shorter_than_a_day_shows_no_cagr(
    owner_client, user, django_capture_on_commit_callbacks
):
    """5,000 five-second bars are under seven hours: annualised, any small loss read as -100 %."""
    ensure_seeded_instruments()
    fast = StrategyFactory(
        owner=user,
        name="RELIANCE 5s",
        instrument=Instrument.objects.get(exchange="NSE", symbol="RELIANCE"),
        timeframe="5s",
        params={"fast": 2, "slow": 5, "mode": "long_short"},
        quantity=10,
        allocation_pct=None,
        product="MIS",
    )
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("backtest_new", args=[fast.pk]), form_data(start="", end=""))
    bt = Backtest.objects.get(strategy=fast)
    assert bt.status == BacktestStatus.COMPLETE, bt.error
    assert bt.data_source == "synthetic"
    assert bt.stats["cagr_pct"] is None
    assert bt.stats["total_return_pct"] is not None
    body = owner_client.get(reverse("backtest_detail", args=[bt.pk])).content.decode()
    # each blank figure says why on hover; the figures that mean something are still there
    assert re.search(r'data-stat="cagr_pct" title="The run spans 0\.3 days; [^"]+">—<', body)
    for key in ("volatility_pct", "sharpe", "sortino"):
        assert bt.stats[key] is None
        assert re.search(rf'data-stat="{key}" title="The run spans less than a day[^"]*">—<', body)
    assert re.search(r'data-stat="total_return_pct">[+-]?[\d,.]+%<', body)


def test_long_runs_are_downsampled_to_a_bounded_number_of_candles(
    owner_client, strategy, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("backtest_new", args=[strategy.pk]), form_data(start="", end=""))
    bt = Backtest.objects.get()
    response = owner_client.get(reverse("backtest_detail", args=[bt.pk]))
    data = chart_data(response)
    assert bt.bars > 1500
    assert 0 < len(data["candles"]) <= 1500
    assert data["step"] > 1
    times = [c[0] for c in data["candles"]]
    assert times == sorted(times)


# --- progress -------------------------------------------------------------------------------


def test_progress_partial_polls_while_running_and_stops_when_done(owner_client, strategy):
    bt = make_backtest(strategy, status=BacktestStatus.RUNNING, progress=40)
    url = reverse("backtest_progress", args=[bt.pk])

    page = owner_client.get(reverse("backtest_detail", args=[bt.pk])).content.decode()
    assert f'hx-get="{url}"' in page and 'hx-trigger="every 1s"' in page

    response = owner_client.get(url, **HTMX)
    body = response.content.decode()
    assert 'hx-trigger="every 1s"' in body
    assert 'aria-valuenow="40"' in body and 'data-progress="40"' in body
    assert 'id="bt-badge"' in body and 'hx-swap-oob="true"' in body

    Backtest.objects.filter(pk=bt.pk).update(progress=85)
    assert 'data-progress="85"' in owner_client.get(url, **HTMX).content.decode()

    Backtest.objects.filter(pk=bt.pk).update(
        status=BacktestStatus.COMPLETE, progress=100, stats=dict.fromkeys(STAT_KEYS)
    )
    body = owner_client.get(url, **HTMX).content.decode()
    assert "hx-trigger" not in body.split('id="bt-badge"')[0]
    assert 'data-stat="sharpe"' in body and "Complete" in body


def test_queued_backtest_shows_an_indeterminate_bar(owner_client, strategy):
    bt = make_backtest(strategy)
    body = owner_client.get(reverse("backtest_progress", args=[bt.pk]), **HTMX).content.decode()
    assert "progress indeterminate" in body and "Waiting for a worker" in body
    assert 'hx-trigger="every 1s"' in body


def test_failed_backtest_shows_the_reason_and_stops_polling(owner_client, strategy):
    bt = make_backtest(strategy, status=BacktestStatus.FAILED, error="No bars in the chosen range.")
    for url in (
        reverse("backtest_detail", args=[bt.pk]),
        reverse("backtest_progress", args=[bt.pk]),
    ):
        body = owner_client.get(url).content.decode()
        assert "No bars in the chosen range." in body
        assert "every 1s" not in body


def test_config_changed_after_the_run_is_flagged(owner_client, strategy):
    bt = make_backtest(strategy, status=BacktestStatus.COMPLETE, stats={})
    body = owner_client.get(reverse("backtest_detail", args=[bt.pk])).content.decode()
    assert "changed after this backtest" not in body
    strategy.params = {"fast": 5, "slow": 20, "mode": "long_short"}
    strategy.save()
    body = owner_client.get(reverse("backtest_detail", args=[bt.pk])).content.decode()
    assert "changed after this backtest" in body


def test_stats_formatting():
    from execution.views import format_stat, stats_rows

    assert format_stat(None, "pct") == "—"
    assert format_stat(1234567.891, "inr") == "₹12,34,567.89"
    assert format_stat(-12.345, "pct_signed") == "-12.35%"
    assert format_stat(12.345, "pct_signed") == "+12.35%"
    assert format_stat(-1500, "inr_signed") == "-₹1,500.00"
    assert format_stat(1, "days") == "1 day"
    rows = stats_rows({**dict.fromkeys(STAT_KEYS, 1.0), "new_metric": 3})
    assert [r["key"] for r in rows][-1] == "new_metric"
    assert {r["key"] for r in rows} == {*STAT_KEYS, "new_metric"}


def test_list_queries_do_not_grow_with_backtests(owner_client, strategy, goog, user):
    other = StrategyFactory(owner=user, name="Second", instrument=goog)
    for s in (strategy, other):
        make_backtest(s, status=BacktestStatus.COMPLETE, stats=dict.fromkeys(STAT_KEYS, 1.0))
    with CaptureQueriesContext(connection) as two:
        owner_client.get(reverse("backtest_list"))
    for i in range(10):
        make_backtest((strategy, other)[i % 2], status=BacktestStatus.RUNNING, progress=i)
    with CaptureQueriesContext(connection) as twelve:
        body = owner_client.get(reverse("backtest_list")).content.decode()
    assert body.count('class="mini-progress"') == 10
    assert len(two.captured_queries) == len(twelve.captured_queries)


def _with_trades(strategy, n: int) -> Backtest:
    from datetime import UTC, datetime, timedelta

    from execution.models import BacktestTrade

    bt = make_backtest(strategy, status=BacktestStatus.COMPLETE, progress=100, stats={})
    t0 = datetime(2012, 1, 2, 3, 45, tzinfo=UTC)
    BacktestTrade.objects.bulk_create(
        BacktestTrade(
            backtest=bt,
            seq=i,
            side="LONG" if i % 2 else "SHORT",
            quantity=10,
            entry_ts=t0 + timedelta(days=i),
            entry_price=Decimal("100.05"),
            exit_ts=t0 + timedelta(days=i, hours=5),
            exit_price=Decimal("99.90"),
            charges=Decimal("1.25"),
            pnl=Decimal("-2.75") if i % 3 else Decimal("4.10"),
        )
        for i in range(1, n + 1)
    )
    return bt


def test_the_trades_table_is_paged_and_its_pager_swaps_only_the_table(owner_client, strategy):
    """194 round trips used to render at once; now 50 a page, the pager fetching its section."""
    bt = _with_trades(strategy, 120)
    url = reverse("backtest_detail", args=[bt.pk])
    body = owner_client.get(url).content.decode()
    table = body[body.index('id="bt-trades"') :]
    assert table.count("<tr>") == 1 + 50  # header + one page
    assert "1\u201350 of 120" in table and "Page 1 of 3" in table

    part = owner_client.get(url, {"page": 3}, HTTP_HX_TARGET="bt-trades", **HTMX)
    section = part.content.decode()
    assert section.lstrip().startswith("<section") and 'id="bt-trades"' in section
    assert section.count("<tr>") == 1 + 20 and "101\u2013120 of 120" in section
    assert "bt-chart-data" not in section  # only the table, not the page


def test_the_trades_export_has_every_round_trip_as_numbers(owner_client, other_user, strategy):
    from django.test import Client

    bt = _with_trades(strategy, 120)
    body = owner_client.get(reverse("backtest_detail", args=[bt.pk])).content.decode()
    export = reverse("backtest_trades_export", args=[bt.pk])
    assert f'href="{export}"' in body

    response = owner_client.get(export)
    assert response["Content-Disposition"] == f'attachment; filename="backtest-{bt.pk}-trades.csv"'
    rows = list(csv.reader(b"".join(response.streaming_content).decode().splitlines()))
    assert rows[0] == [
        "seq", "side", "quantity", "entry_time_ist", "entry_price",
        "exit_time_ist", "exit_price", "charges", "pnl",
    ]  # fmt: skip
    assert len(rows) == 121
    assert rows[1] == [
        "1", "LONG", "10", "2012-01-03T09:15:00+05:30", "100.0500",
        "2012-01-03T14:15:00+05:30", "99.9000", "1.25", "-2.75",
    ]  # fmt: skip
    other = Client()
    other.force_login(other_user)
    assert other.get(export).status_code == 404  # someone else's backtest
