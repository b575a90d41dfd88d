"""Issue 15's journey in the browser, against the fake Kite (REST, login, ticker) on loopback.

A trader links a Kite account through the real redirect flow, the instruments come from Kite's
dump (``import_instruments --from kite``: the dashboard has no import button, so the test runs
the command, as an operator would), a real ``run_ticker`` process turns the fake ticker's binary
packets into one-minute bars, the trader deploys live on those bars with the typed confirmation,
the order leaves for the fake Kite, the fake fills it and posts the fill back to our live
server, and after "Reconcile now" the run's page shows the fake's books: the same order, the
same fill and the same position.

The ticks are stamped (exchange time) in the coming minutes, and the deployment's step runs in
the test with an explicit ``now`` just after them (the cluster's dispatcher makes the same call
once the wall clock gets there), so the journey never waits for the clock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.conf import settings as django_settings

from tests.browser.conftest import database_url, logged_in, unavailable, wait_until
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

INFY = 408065  # INFY's Kite instrument token in the fake's dump


def _ticker_process(account_id: int, api_root: str, ticker_url: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_CURRENT_TEST", "REDIS_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="algosaas.settings.test",
        DATABASE_URL=database_url(),
        KITE_API_ROOT=api_root,
        KITE_TICKER_ROOT=ticker_url,
        KITE_HISTORY_REQUESTS_PER_SECOND="0",
        BROKER_RATE_LIMIT_REDIS_URL="",
        PYTHONUNBUFFERED="1",
    )
    cmd = [sys.executable, "manage.py", "run_ticker", "--account", str(account_id),
           "--instrument", "NSE:INFY", "--wait-lock", "0.2"]  # fmt: skip
    return subprocess.Popen(
        cmd, cwd=django_settings.BASE_DIR, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.stdout.read() if proc.stdout else ""


def _cells(page, heading: str) -> list[list[str]]:
    """The body rows of the table in the card headed ``heading``, as cell texts."""
    card = page.locator("section.card").filter(has=page.get_by_role("heading", name=heading))
    return [
        [c.strip() for c in row.locator("td").all_inner_texts()]
        for row in card.locator("tbody tr").all()
    ]


def _money(text: str) -> Decimal:
    return Decimal("".join(ch for ch in text if ch.isdigit() or ch in ".-"))


def test_link_import_tick_deploy_live_fill_by_postback_and_reconcile(
    new_tab, app_server, settings, artifacts
):
    from django.core.management import call_command
    from django.urls import reverse

    from brokers.models import BrokerAccount
    from execution.marketdata.minutebars import MinuteBar
    from execution.models import Bar, BrokerOrderLink, Instrument, Order, Trade
    from execution.services.broker_data import minute_bars_write
    from execution.services.live import deployment_step
    from strategies.models import Deployment
    from strategies.tests.factories import StrategyFactory
    from tests.factories import UserFactory
    from tests.fakes.kite import shared_server
    from tests.fakes.kite.ticker import FakeTick, FakeTicker

    if "postgresql" not in django_settings.DATABASES["default"]["ENGINE"]:
        unavailable("run_ticker is another process: it needs PostgreSQL (DATABASE_URL)")
    server = shared_server()
    kite = server.reset(redirect_url=f"{app_server.url}/brokers/kite/callback/")
    kite.add_instrument("INFY", tick=0.05, lot=1, last_price=1500.0)
    kite.postbacks.url = f"{app_server.url}/api/brokers/kite/postback/"
    kite.postbacks.immediate = True  # posted as each order changes, as Kite does
    ticker = FakeTicker(api_key=kite.api_key, access_tokens=kite.access_tokens)
    settings.KITE_API_ROOT = server.url
    settings.KITE_LOGIN_URL = server.login_url
    settings.KITE_TICKER_ROOT = ticker.url
    settings.KITE_TIMEOUT_SECONDS = 5.0
    settings.KITE_HISTORY_REQUESTS_PER_SECOND = 0
    settings.BROKER_RATE_LIMIT_REDIS_URL = ""

    user = UserFactory()
    tab = new_tab("trader")
    page = tab.page
    logged_in(page, email=user.email, password=TEST_PASSWORD)

    # 1. link the account: our page -> the fake's /connect/login -> our callback -> token
    page.get_by_role("link", name="Brokers").click()
    page.get_by_label("API key").fill(kite.api_key)
    page.get_by_label("API secret").fill(kite.api_secret)
    page.get_by_role("button", name="Add account").click()
    page.get_by_role("button", name="Log in to Kite").click()
    expect(page.get_by_text("Linked", exact=True)).to_be_visible()
    account = BrokerAccount.objects.get(user=user)
    artifacts.shot(page, "linked")

    # 2. the instruments, from Kite's dump with their real tick and lot sizes
    call_command("import_instruments", "--from", "kite", "--account", str(account.pk),
                 "--exchange", "NSE")  # fmt: skip
    infy = Instrument.objects.get(exchange="NSE", symbol="INFY")
    assert infy.kite_token == INFY

    # 3. a strategy on it: an SMA crossover on one-minute bars, warmed up on a falling market
    strategy = StrategyFactory(
        owner=user, name="Kite INFY cross", strategy_type="sma_crossover",
        params={"fast": 2, "slow": 5, "mode": "long_only"}, instrument=infy,
        timeframe="1m", quantity=5, allocation_pct=None, product="CNC",
        capital=Decimal("100000.00"),
    )  # fmt: skip
    # Every minute up to the ticker's first one is stored here, the current one included: so
    # neither the ticker's connection minute nor a quiet minute is completed from the fake's
    # historical candles (at another price level) when the test runs in NSE's hours.
    m = (int(time.time()) // 60 + 3) * 60  # the ticker's first minute: deploying comes first
    warm = [
        (infy, MinuteBar(INFY, m - 60 * (12 - i), *(Decimal(1500 - 2 * i),) * 4, 100))
        for i in range(12)
    ]
    minute_bars_write(warm)

    # 4. the ticker process: the fake's binary packets become one-minute bars
    proc = _ticker_process(account.pk, server.url, ticker.url)
    try:
        assert ticker.wait_mode(INFY, "full", timeout=60), _stop(proc)

        # 5. deploy live from the strategy page, typing the name to confirm
        page.goto(reverse("strategies:detail", args=[strategy.pk]))
        page.get_by_text("Deploy live to a broker account").click()
        form = page.locator("form").filter(has=page.get_by_role("button", name="Deploy live"))
        form.get_by_label("Market data").select_option("broker")
        form.get_by_label("Type the strategy's name to confirm").fill("Kite INFY cross")
        form.get_by_role("button", name="Deploy live").click()
        expect(page.get_by_text("is live on your broker account")).to_be_visible()
        # the strategy page says the run is live, not paper
        expect(page.locator("#status-panel [data-run-mode=live]")).to_be_visible()
        deployment = Deployment.objects.get(strategy=strategy)
        artifacts.shot(page, "deployed-live")

        # the market turns up: ticks stamped in the coming minutes (exchange time)
        assert time.time() < m - 30, "deployed too late for the first minute's ticks"
        prices = [1490, 1500, 1510, 1520]
        ticker.send([FakeTick(INFY, 1480, m - 30, volume=1)])  # so minute m is watched whole
        for i, price in enumerate(prices):
            for s, p in ((1, price - 1), (30, price + 1), (59, price)):
                ticker.send([FakeTick(INFY, p, m + 60 * i + s, volume=1000 * i + s)])
        ticker.send([FakeTick(INFY, 1521, m + 60 * len(prices) + 1, volume=9999)])
        since = datetime.fromtimestamp(m, UTC)
        minutes = Bar.objects.filter(instrument=infy, timeframe="1m", ts__gte=since)
        wait_until(lambda: minutes.count() >= len(prices), timeout=30,
                   what="the ticker's bars", diagnostics=lambda: _stop(proc))  # fmt: skip
    finally:
        out = _stop(proc)
        ticker.stop()
    assert "Ticker on for 1 instruments" in out, out

    # 6. the step the dispatcher would run once those minutes closed: the order leaves
    step_at = datetime.fromtimestamp(m + 60 * len(prices) + 5, UTC)
    deployment_step(deployment_id=deployment.pk, now=step_at)
    assert len(kite.book.orders) == 1, Order.objects.filter(deployment=deployment).values()
    (at_kite,) = kite.book.orders.values()
    assert at_kite["status"] == "OPEN" and at_kite["transaction_type"] == "BUY"

    # 7. the fake's market moves: the order fills and Kite posts it back to our server
    kite.advance(1522, 1525, 1520, 1524)
    assert at_kite["status"] == "COMPLETE"
    assert [code for _, code in kite.postbacks.sent] and all(
        code == 200 for _, code in kite.postbacks.sent
    ), kite.postbacks.sent

    # 8. Reconcile now, then the run's page shows the fake's books
    page.goto(reverse("brokers:list"))
    page.get_by_role("button", name="Reconcile now").click()
    expect(page.get_by_text("Reconciled:")).to_be_visible()
    assert not page.locator("[data-alert]").count(), page.locator("[data-alert]").all_inner_texts()
    page.goto(reverse("deployment_detail", args=[deployment.pk]))
    (trade,) = kite.book.trades
    (position,) = kite.book.positions()["net"]
    orders = _cells(page, "Orders")
    assert len(orders) == 1, orders
    assert "BUY" in orders[0][1] and int(orders[0][3]) == at_kite["quantity"]
    assert _money(orders[0][6]) == Decimal(str(at_kite["average_price"]))
    assert "Filled" in orders[0][7] or "COMPLETE" in orders[0][7].upper(), orders[0]
    fills = _cells(page, "Trades")
    assert len(fills) == 1, fills
    assert "BUY" in fills[0][1] and int(fills[0][2]) == trade["quantity"]
    assert _money(fills[0][3]) == Decimal(str(trade["average_price"]))
    positions = _cells(page, "Positions")
    assert len(positions) == 1 and "INFY" in positions[0][0], positions
    assert int(positions[0][1]) == position["quantity"]
    assert _money(positions[0][2]) == Decimal(str(position["average_price"]))
    # the money: the broker's position marked at the last bar, not the model's simulated fill
    capital = strategy.capital
    marked = capital + Decimal(str(position["quantity"])) * (
        Decimal(str(prices[-1])) - Decimal(str(position["average_price"]))
    )
    # less the fill's charges: Kite reports none, so NSE's schedule, estimated, on our trade
    (ours,) = Trade.objects.filter(order__deployment__strategy=strategy)
    charges = _money(page.locator("[data-tile=charges]").inner_text())
    assert charges == ours.charges > 0 and ours.charges_breakdown["estimated"] is True
    assert _money(page.locator("[data-tile=equity]").inner_text()) == marked - charges
    assert _money(page.locator("[data-tile=unrealised]").inner_text()) == marked - capital
    # and it says that real money moves here: no "paper" on a live run's page
    expect(page.locator(".usernav .live-pill")).to_have_text("Live")
    expect(page.locator("footer")).to_contain_text("live trading on your broker account")
    expect(page.locator(".ticket-note")).to_contain_text("Sent to your broker account")
    artifacts.shot(page, "reconciled-run")

    link = BrokerOrderLink.objects.get()
    assert link.broker_order_id == at_kite["order_id"] and link.broker_status == "COMPLETE"
    assert Trade.objects.filter(deployment=deployment).count() == 1
    assert not tab.csp, tab.csp
