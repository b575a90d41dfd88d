"""Issue 13's "done when", in a real browser: a rule on a basket of five NSE stocks, end to end.

The trader builds "SMA(20) crosses above SMA(50) and RSI(14) < 60; stop 2 %; target 5 %" with
the builder's selects, picks five NSE stocks with the basket picker's search, saves, backtests
(tasks run inline under the test settings) and reads each stock's row and the basket's total,
deploys the backtested configuration to paper on the 5 s synthetic feed and, as entries fill,
sees each entry's stop (SL-M) and target (LIMIT) legs on the run's live page.

No cluster: the synthetic feed is a pure function of time, so the test steps the deployment
through the service (``deployment_step`` at a chosen ``now``), which runs the real engine over
every member bar by bar, as the dispatcher would. The app's clock starts at ``MARKET_FROM``, so
the run meets the same bars every time: there the five enter within a few hundred 5 s bars and
RELIANCE's stop fills some 1,860 bars in (its target is then cancelled). The walk moves as
real stocks do (20-45 % a year: 1-3 % in 8 hours of 5 s bars), so from an arbitrary moment a
2 % stop or a 5 % target may well not be reached within a test's budget of bars.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import Artifacts
from tests.browser.test_rule_builder import RULE, RULE_WITH_EXITS, field

try:
    from playwright.sync_api import expect
except ImportError:  # the ``browser`` fixture skips (or, under CI, fails) with the reason
    expect = None

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

NAME = "Golden RSI basket"
BASKET = ["RELIANCE", "TCS", "HDFCBANK", "INFY", "ITC"]
CHUNK = 20  # bars per service step: a dispatcher that fell a little behind
# The market the run meets: deployed at this moment, every member enters within a few hundred
# bars and one leg (RELIANCE's stop) fills about 1,860 bars in.
MARKET_FROM = datetime(2026, 3, 15, 6, 0, tzinfo=UTC)
MAX_BARS = 2400
BACKTEST_MS = 90_000
NARROW = {"width": 1280, "height": 900}  # a laptop: the live page must fit without a side scroll


@pytest.fixture
def nse_five() -> list[str]:
    """The five NSE stocks of the basket (seeded by the migrations; created if a flush ate them)."""
    from execution.models import Instrument
    from strategies.tests.factories import ensure_seeded_instruments

    ensure_seeded_instruments()
    for symbol in BASKET:
        Instrument.objects.get_or_create(
            exchange="NSE",
            symbol=symbol,
            defaults={"name": symbol, "currency": "INR", "tick_size": "0.05", "lot_size": 1},
        )
    return BASKET


def _build_rule(page: Page) -> None:
    """Replace the starting template with the rule, through the selects and inputs only."""
    preview = page.locator("#rule-preview")
    page.get_by_role("button", name="Remove condition entry_long.all[0]").click()
    expect(preview).to_contain_text("entry_long: rsi(14) < 60\n")
    page.get_by_role("button", name="Remove condition exit_long.all[0]").click()
    expect(preview).to_have_text("entry_long: rsi(14) < 60")
    page.get_by_role("button", name="Remove condition entry_long.all[0]").click()
    expect(preview).to_have_text("Fix the highlighted conditions to see the rule.")

    entry = page.locator('[data-section="entry_long"]')
    entry.get_by_role("button", name="+ Condition").click()
    expect(preview).to_have_text("entry_long: sma(20) > sma(50)")
    field(page, "entry_long.all[0].op").select_option("crosses_above")
    expect(preview).to_have_text("entry_long: sma(20) crosses_above sma(50)")

    entry.get_by_role("button", name="+ Condition").click()
    expect(preview).to_have_text("entry_long: sma(20) crosses_above sma(50) and sma(20) > sma(50)")
    expect(field(page, "entry_long.all[1].left.source")).to_have_value("sma")
    field(page, "entry_long.all[1].left.source").select_option("rsi")
    expect(preview).to_contain_text("and rsi(20) > sma(50)")
    period = field(page, "entry_long.all[1].left.period")
    period.fill("14")
    period.press("Tab")
    expect(preview).to_contain_text("and rsi(14) > sma(50)")
    field(page, "entry_long.all[1].op").select_option("<")
    expect(preview).to_contain_text("rsi(14) < sma(50)")
    field(page, "entry_long.all[1].right.source").select_option("const")
    value = field(page, "entry_long.all[1].right.const")
    value.fill("60")
    value.press("Tab")
    expect(preview).to_have_text(RULE)

    stop = page.get_by_label("Stop-loss %")
    stop.fill("2")
    stop.press("Tab")
    expect(preview).to_have_text(RULE + "\nstop_loss: 2%")
    target = page.get_by_label("Target %")
    target.fill("5")
    target.press("Tab")
    expect(preview).to_have_text(RULE_WITH_EXITS)


def _pick_basket(page: Page, symbols: list[str]) -> None:
    """Search each symbol in the picker and tick it; the region below the search redraws with
    it as a member (the search box itself is never redrawn, so typing needs no waiting)."""
    picker = page.locator("#basket-picker")
    for n, symbol in enumerate(symbols, start=1):
        page.locator("#basket-q").fill(symbol)
        match = picker.locator(f'[data-basket-result="NSE:{symbol}"]')
        match.check()
        expect(picker.locator(f'[data-basket-member="NSE:{symbol}"]')).to_be_checked()
        expect(picker.locator("[data-basket-member]")).to_have_count(n)
        # a basket's first member is its instrument: the single select is hidden, not sent
        expect(page.locator("#id_instrument")).to_be_hidden()
        expect(page.locator("#id_instrument")).to_be_disabled()
    members = picker.locator("[data-basket-member]")
    expect(members.first).to_have_attribute("data-basket-member", f"NSE:{symbols[0]}")
    expect(picker.locator("#basket-count")).to_contain_text(f"{len(symbols)} of at most")


def _step_until_a_leg_fills(deployment_id: int) -> None:
    """Step the run ``CHUNK`` bars at a time until a stop or target leg has filled."""
    from django.db.models import Count

    from execution.models import DeploymentState, Order
    from execution.services.live import deployment_step

    live = DeploymentState.objects.get(pk=deployment_id)
    start = live.cursor_ts + live.interval_s  # the first bar traded
    legs = Order.objects.filter(deployment_id=deployment_id, role__in=["stop", "target"])
    for k in range(CHUNK, MAX_BARS + 1, CHUNK):
        now = datetime.fromtimestamp(start + (k + 1) * live.interval_s, tz=UTC)
        deployment_step(deployment_id=deployment_id, now=now)
        if legs.filter(status="COMPLETE").exists():
            return
    seen = list(
        Order.objects.filter(deployment_id=deployment_id)
        .values_list("role", "status")
        .annotate(n=Count("id"))
    )
    pytest.fail(f"no stop or target leg filled in {MAX_BARS} bars: {seen}")


def order_no(pk: int) -> re.Pattern[str]:
    """An order's number as its row shows it (``#12``, not ``#123``)."""
    return re.compile(rf"#{pk}(?!\d)")


def _legs_of(entry) -> dict[str, object]:
    """The stop and target legs the entry's fill placed (one order group: ``…-sl``, ``…-tp``)."""
    from execution.models import Order

    group = entry.client_order_id.removesuffix("-e")
    legs = {
        o.role: o
        for o in Order.objects.filter(
            deployment_id=entry.deployment_id, client_order_id__in=[f"{group}-sl", f"{group}-tp"]
        )
    }
    assert set(legs) == {"stop", "target"}, f"no bracket legs after {entry.client_order_id}"
    stop, target = legs["stop"], legs["target"]
    assert entry.id < stop.id < target.id
    assert stop.quantity == target.quantity == entry.filled_quantity
    assert stop.side == target.side != entry.side
    return legs


def test_rule_on_a_basket_from_builder_to_paper_legs(
    nse_five, signed_in, market_clock, artifacts: Artifacts
):
    from execution.models import Order
    from strategies.models import Strategy

    market_clock(MARKET_FROM)
    tab = signed_in("rule.basket@example.com")
    page = tab.page
    user = tab.user

    # 1. Build the rule and its exits with the builder, on five stocks picked by search.
    page.goto("/app/strategies/")
    page.get_by_role("link", name="+ Build a rule").click()
    expect(page.get_by_role("heading", name="Build a rule", level=1)).to_be_visible()
    page.get_by_label("Name", exact=True).fill(NAME)
    page.get_by_label("Timeframe").select_option("5s")
    _build_rule(page)
    _pick_basket(page, nse_five)
    # an edit of the rule after the picking keeps the basket (the picker is outside its swaps)
    expect(page.locator("#rule-preview")).to_have_text(RULE_WITH_EXITS)
    artifacts.shot(page, "rule and basket built")

    page.get_by_role("button", name="Create strategy").click()
    expect(page).to_have_url(re.compile(r"/app/strategies/\d+/rules/$"))
    expect(page.locator("#rule-preview")).to_have_text(RULE_WITH_EXITS)
    saved = page.locator("#basket-picker [data-basket-member]")
    expect(saved).to_have_count(len(nse_five))
    for n, symbol in enumerate(nse_five):
        expect(saved.nth(n)).to_have_attribute("data-basket-member", f"NSE:{symbol}")
    strategy = Strategy.objects.get(owner=user, name=NAME)
    assert [m.instrument.symbol for m in strategy.members.order_by("position")] == nse_five
    assert strategy.params["exits"] == {"stop_loss_pct": 2.0, "target_pct": 5.0}

    # 2. Backtest now: each stock's row and the basket's total.
    page.get_by_role("link", name="Backtest now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Backtest “{NAME}”")
    replays = page.locator("section.card").filter(
        has=page.get_by_role("heading", name="What it replays")
    )
    expect(replays).to_contain_text("basket of 5: NSE:RELIANCE, NSE:TCS")
    expect(replays).to_contain_text("stop_loss: 2%, target: 5%")
    # the backtest runs inline, in the request: on a busy machine it takes a while
    page.get_by_role("button", name="Run backtest").click(timeout=BACKTEST_MS)
    expect(page).to_have_url(re.compile(r"/app/backtests/\d+/$"), timeout=BACKTEST_MS)
    expect(page.locator("#bt-badge")).to_have_text("Complete")
    table = page.locator("#bt-basket")
    rows = table.locator("tr[data-basket-member]")
    expect(rows).to_have_count(len(nse_five))
    member_trades = []
    for symbol in nse_five:
        row = table.locator(f'tr[data-basket-member="NSE:{symbol}"]')
        expect(row.locator("[data-stat='trades']")).to_have_text(re.compile(r"^[\d,]+$"))
        expect(row.locator("[data-stat='final_equity']")).to_have_text(re.compile(r"₹[\d,.]+"))
        member_trades.append(int(row.locator("[data-stat='trades']").inner_text().replace(",", "")))
    # the heading names the basket, the run card prints the rule as text, caps as typed
    expect(page.locator("h1 + .sub")).to_contain_text("basket of 5: NSE:RELIANCE, NSE:TCS")
    run_card = page.locator("section.card").filter(has=page.get_by_role("heading", name="Run"))
    expect(run_card).to_contain_text("sma(20) crosses_above sma(50) and rsi(14) < 60")
    expect(run_card).to_contain_text("stop_loss: 2%, target: 5%")
    expect(rows.first.locator("td").first).to_have_text("20")
    total = table.locator("tr[data-basket-total]")
    expect(total).to_contain_text(re.compile(r"total", re.I))
    total_trades = int(total.locator("[data-stat='trades']").inner_text().replace(",", ""))
    assert total_trades == sum(member_trades) > 0
    artifacts.shot(page, "basket backtest")

    # 3. Deploy the backtested configuration to paper: a live run of the five.
    page.get_by_role("button", name="Deploy this configuration").click()
    expect(page).to_have_url(re.compile(r"/app/strategies/\d+/$"))
    expect(page.locator("#head-badge")).to_have_text("Running")
    page.get_by_role("link", name="Open live run →").click()
    expect(page).to_have_url(re.compile(r"/app/deployments/\d+/$"))
    deployment_id = int(re.search(r"/deployments/(\d+)/", page.url).group(1))
    # the summary names the first four and counts the rest
    expect(page.locator("h1 + .sub")).to_contain_text(
        "basket of 5: " + ", ".join(f"NSE:{s}" for s in nse_five[:4]) + " +1"
    )
    book = page.locator("#live-book")
    for symbol in nse_five:
        expect(book).to_contain_text(f"NSE:{symbol}")

    # 4. Each member enters on its first cross; the run steps until a stop or target fills.
    #    On the open live page (its 3 s refresh, no reload) every entry's stop and target legs
    #    appear with the entry's instrument; the filled leg's sibling is cancelled.
    _step_until_a_leg_fills(deployment_id)
    history = page.locator("#live-history #orders")
    entries = list(
        Order.objects.filter(deployment_id=deployment_id, role="entry", status="COMPLETE")
        .select_related("instrument")
        .order_by("id")
    )
    assert {e.instrument.symbol for e in entries} == set(nse_five)
    filled = []
    for entry in entries:
        expect(history.locator("tr").filter(has_text=order_no(entry.pk))).to_contain_text("Entry")
        legs = _legs_of(entry)
        for role, label, order_type in (("stop", "Stop", "SL-M"), ("target", "Target", "LIMIT")):
            row = history.locator("tr").filter(has_text=order_no(legs[role].pk))
            expect(row).to_have_count(1)
            expect(row.locator(f'[data-role="{role}"]')).to_have_text(label)
            expect(row).to_contain_text(f"NSE:{entry.instrument.symbol}")
            expect(row).to_contain_text(order_type)
        statuses = {role: leg.status for role, leg in legs.items()}
        if "COMPLETE" in statuses.values():
            filled.append(entry)
            done = "stop" if statuses["stop"] == "COMPLETE" else "target"
            other = "target" if done == "stop" else "stop"
            assert statuses[other] == "CANCELLED", statuses  # one cancels the other
            for role, status in ((done, "Complete"), (other, "Cancelled")):
                row = history.locator("tr").filter(has_text=order_no(legs[role].pk))
                expect(row).to_contain_text(status)
    assert [e.instrument.symbol for e in filled] == ["RELIANCE"]
    # the legs still working are in the open-orders list, with their instrument
    working = Order.objects.filter(
        deployment_id=deployment_id,
        role__in=["stop", "target"],
        status__in=["OPEN", "TRIGGER_PENDING"],
    ).select_related("instrument")
    assert working.count() >= 8  # the four members still in, each with both legs
    open_orders = page.locator("#open-orders")
    for leg in working:
        row = open_orders.locator("tr").filter(has_text=order_no(leg.pk))
        expect(row).to_contain_text(f"NSE:{leg.instrument.symbol}")
    artifacts.shot(page, "live run with bracket legs")

    # 5. On a laptop's 1280 px the page does not scroll sideways: the open orders fit their card.
    page.set_viewport_size(NARROW)
    expect(open_orders.locator("tbody tr").first).to_be_visible()
    page_width = page.evaluate("() => document.documentElement.scrollWidth")
    assert page_width <= NARROW["width"], f"the page is {page_width} px wide at 1280 px"
    table = open_orders.locator("table").bounding_box()
    card = open_orders.bounding_box()
    assert table and card and table["width"] <= card["width"] + 0.5, (table, card)
    artifacts.shot(page, "live run at 1280 px")

    assert not tab.csp, f"Content-Security-Policy violations: {tab.csp}"
    assert not tab.errors, tab.errors
