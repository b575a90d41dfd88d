"""A new user's whole journey in a real browser (ARCHITECTURE §9, the dashboard).

Sign up; create an SMA-crossover strategy, see the fast >= slow refusal next to its field and
fix it; backtest it and watch the progress bar give way to the charts and statistics; deploy it
on the 5 s synthetic feed (SMA 2/5, MIS, long/short) and watch orders, bars and the equity curve
arrive without a reload; place a LIMIT order far from the market so it rests OPEN, cancel it;
stop the run with square-off (its order labelled "Square-off"); find the strategy STOPPED and
the cancelled manual order in the orders list beside the strategy's entries and exits.

Everything moves the way it does in production: the web app runs in ``app_server``, a real
``qcluster`` subprocess runs the backtest and steps the deployment (see ``conftest.py``). The
cluster starts only after the backtest is queued, so the queued state and its progress bar are
on screen for certain (a worker would otherwise finish a 5,000-bar backtest before the page had
rendered it); the results then replace them by polling.

Every wait is on a condition (``expect`` or a polling loop with a deadline), and each step saves
a screenshot under ``$ARTIFACTS_DIR/test_new_user_journey/``.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import Artifacts, Cluster, Tab, signed_up, wait_until
from tests.factories import TEST_PASSWORD

try:
    from playwright.sync_api import expect
except ImportError:  # the ``browser`` fixture skips (or, under CI, fails) with the reason
    expect = None

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

EMAIL = "asha.journey@example.com"
STRATEGY = "SMA 2/5 on 5 s bars"
SYMBOL = "RELIANCE"
QUANTITY = 10
BACKTEST_TIMEOUT_MS = 90_000  # cluster start (a few s) + a 5,000-bar replay + a 1 s poll
LIVE_TIMEOUT_S = 120  # SMA 2/5 on 5 s bars crosses every few bars; the first order usually < 40 s
SQUARE_OFF_TIMEOUT_MS = 60_000  # the closing order fills on the next 5 s bar


# --- helpers ---------------------------------------------------------------------------------


@dataclass
class Journey:
    """Times each step and screenshots the page at its end (toasts included).

    A step starts by closing the previous step's toasts, so each step's toast is its own (they
    dismiss themselves after 5-15 s, but a step is often quicker).
    """

    page: Page
    artifacts: Artifacts
    timings: list[tuple[str, float]] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        dismiss_toasts(self.page)
        yield
        self.timings.append((name, time.monotonic() - began))
        self.artifacts.shot(self.page, name)

    def report(self) -> str:
        total = sum(t for _, t in self.timings)
        lines = [f"{t:7.1f} s  {name}" for name, t in self.timings]
        return "\n".join([*lines, f"{total:7.1f} s  total"])


@dataclass
class Document:
    """Proof that a page was not reloaded: a JS marker, its time origin, no navigation."""

    page: Page
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    origin: float = 0.0
    navigations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.origin = self.page.evaluate(
            "token => { window.__journeyDoc = token; return performance.timeOrigin; }", self.token
        )
        self.page.on("framenavigated", self._navigated)

    def _navigated(self, frame: Any) -> None:
        if frame == self.page.main_frame:
            self.navigations.append(frame.url)

    def assert_not_reloaded(self) -> None:
        state = self.page.evaluate(
            "() => ({token: window.__journeyDoc, origin: performance.timeOrigin,"
            " types: performance.getEntriesByType('navigation').map(e => e.type)})"
        )
        assert state["token"] == self.token, "the page was reloaded (its JS marker is gone)"
        assert state["origin"] == self.origin, "the page was reloaded (new time origin)"
        assert "reload" not in state["types"], state
        assert not self.navigations, f"the page navigated: {self.navigations}"

    def done(self) -> None:
        self.page.remove_listener("framenavigated", self._navigated)


def dismiss_toasts(page: Page) -> None:
    page.evaluate("() => document.querySelectorAll('#toasts .toast-close').forEach(b => b.click())")
    expect(page.locator("#toasts .toast")).to_have_count(0)


def toast(page: Page, text: str | re.Pattern[str]) -> Locator:
    return page.locator("#toasts .toast").filter(has_text=text)


# What a toast must never cover: buttons (and links styled as them), the navigation, and the
# fields a user types into. (A bottom-left toast may sit over a table row or a label.)
INTERACTIVE = (
    "button, .button, [role=button], input:not([type=hidden]), select, textarea,"
    " .mainnav a, .usernav a, .page-actions a"
)


def shown_toast(page: Page, text: str | re.Pattern[str]) -> Locator:
    """Expect a toast: visible, announced (a status in a polite live region), covering nothing.

    The toasts once sat at the top right, over the page actions (the journey had to close them
    before it could click those); now no toast may overlap a visible control of the page.
    """
    found = toast(page, text)
    expect(found).to_be_visible()
    expect(page.locator("#toasts")).to_have_attribute("aria-live", "polite")
    expect(found).to_have_attribute("role", re.compile(r"^(status|alert)$"))
    covered = page.evaluate(
        """selector => {
          const toasts = [...document.querySelectorAll('#toasts .toast')]
            .map(t => t.getBoundingClientRect());
          const hit = (a, b) => a.left < b.right && b.left < a.right
            && a.top < b.bottom && b.top < a.bottom;
          return [...document.querySelectorAll(selector)]
            .filter(el => !el.closest('#toasts')
                    && el.checkVisibility({visibilityProperty: true, opacityProperty: true}))
            .map(el => [el, el.getBoundingClientRect()])
            .filter(([, r]) => r.width > 0 && r.height > 0 && r.bottom > 0
                    && r.top < innerHeight && toasts.some(t => hit(t, r)))
            .map(([el]) => el.outerHTML.slice(0, 120));
        }""",
        INTERACTIVE,
    )
    assert not covered, f"a toast covers {covered}"
    return found


def assert_live_chart_readable(page: Page) -> None:
    """The live equity chart: its y-axis labels differ and it shows every point it has.

    Whole-rupee labels once printed "₹5,00,000" on every tick of a run moving a few rupees, and
    points that arrived later were drawn off to the right of the fitted range.
    """
    chart = page.evaluate(
        """() => {
          const el = document.querySelector('[data-chart="live-equity"]');
          const chart = el.lwChart, series = chart.panes()[0].getSeries()[0];
          const data = series.data(), values = data.map(p => p.value);
          const range = chart.priceScale('right').getVisibleRange();
          const fmt = series.priceFormatter();
          // Labels as the axis spaces them: six steps, but never closer than a paisa.
          const step = Math.max((range.to - range.from) / 6, 0.011), ticks = [];
          for (let v = range.from; v <= range.to + 1e-9; v += step) ticks.push(fmt.format(v));
          return {
            points: data.length, min: Math.min(...values), max: Math.max(...values),
            range, logical: chart.timeScale().getVisibleLogicalRange(),
            autoScale: chart.priceScale('right').options().autoScale,
            ticks,
          };
        }"""
    )
    assert chart["points"] >= 3, chart
    assert chart["autoScale"] is True, chart
    assert chart["range"]["from"] <= chart["min"] and chart["max"] <= chart["range"]["to"], chart
    # fitContent: the points span the width, the first and the last on screen (give or take
    # half a bar), rather than a few points squeezed at one end of a mostly empty time axis.
    logical = chart["logical"]
    assert -1.5 < logical["from"] < 0.5 and logical["to"] > chart["points"] - 1.5, chart
    assert logical["to"] - logical["from"] < chart["points"] + 5, chart  # 3 bars right offset
    assert all(re.fullmatch(r"₹[\d,]+\.\d\d", t) for t in chart["ticks"]), chart
    assert len(set(chart["ticks"])) == len(chart["ticks"]), chart


def choose(scope: Page | Locator, label: str) -> None:
    """Pick a segmented-control option: its radio is invisible, the user clicks the label."""
    scope.locator("label").filter(has_text=re.compile(rf"^{re.escape(label)}$")).click()
    expect(scope.get_by_label(label, exact=True)).to_be_checked()


def field_of(page: Page, label: str) -> Locator:
    """The ``.field`` wrapper (label, input, errors) of the input labelled ``label``."""
    return page.locator(".field").filter(has=page.get_by_label(label, exact=True))


def rupees(text: str) -> float:
    """A price as the pages show it, ``₹2,51,234.50`` (Indian grouping), as a float."""
    return float(text.replace("₹", "").replace(",", "").strip())


def live_snapshot(page: Page) -> dict[str, Any]:
    """What the live region shows right now (read in one go, between two htmx swaps)."""
    return page.evaluate(
        """() => {
          const text = sel => (document.querySelector(sel)?.innerText || '').trim();
          const strip = text('#live-tiles .live-strip');
          const bars = strip.match(/([\\d,]+) bars? processed/);
          return {
            bars: bars ? parseInt(bars[1].replace(/,/g, ''), 10) : 0,
            asOf: (strip.match(/as of ([\\d:]+)/) || [])[1] || '',
            legend: text('.chart-legend:has(+ [data-chart="live-equity"])'),
            chartEmpty: document.querySelector('.chart-empty')?.hidden === false,
            orders: document.querySelectorAll('#orders tbody tr').length,
            strategyOrders: [...document.querySelectorAll('#orders tbody tr .order-role')]
              .filter(r => r.dataset.role === 'entry' || r.dataset.role === 'exit').length,
            equity: text('[data-tile="equity"]'),
          };
        }"""
    )


def run_status(page: Page) -> Locator:
    """The run's status badges in the page heading (the Run card's are ``#run-status``)."""
    status = page.locator("#deployment-status")
    expect(status).to_have_count(1)  # ids are unique: it was once on the page twice
    return status


def position_row(page: Page) -> Locator:
    return page.locator("#live-book section").first.locator("tbody tr").first


# --- the journey ---------------------------------------------------------------------------


def test_new_user_journey(cluster: Cluster, new_tab, artifacts: Artifacts):
    tab: Tab = new_tab("asha")
    page = tab.page
    journey = Journey(page, artifacts)
    try:
        _journey(page, journey, cluster)
    finally:
        report = journey.report()
        if cluster.started_in is not None:
            report += f"\n(qcluster took {cluster.started_in:.1f} s to start)"
        artifacts.path("timings.txt").write_text(report + "\n")
        print(report)
    assert not tab.errors, f"uncaught errors in the page: {tab.errors}"
    assert not tab.csp, f"Content-Security-Policy violations: {tab.csp}"
    console_errors = [line for line in tab.console if line.startswith("[error]")]
    assert not console_errors, f"errors in the browser console: {console_errors}"


def _journey(page: Page, journey: Journey, cluster: Cluster) -> None:
    # 1. Sign up: straight into the dashboard, logged in, with a welcome.
    with journey.step("signed up"):
        signed_up(page, email=EMAIL, password=TEST_PASSWORD, name="Asha Rao")
        shown_toast(page, "Welcome to algosaas")
        expect(page.locator(".usernav .who")).to_have_text(EMAIL)

    # 2. A new SMA crossover strategy: first with fast >= slow, which the service refuses.
    with journey.step("strategy form filled"):
        page.locator(".page-actions").get_by_role("link", name="+ New strategy").click()
        expect(page.get_by_role("heading", name="New strategy", level=1)).to_be_visible()
        page.get_by_label("Name", exact=True).fill(STRATEGY)
        _choose_type(page, "sma_crossover", "SMA crossover")
        instrument = page.get_by_label("Instrument")
        option = instrument.locator("option").filter(has_text=f"NSE:{SYMBOL} ")
        instrument.select_option(option.get_attribute("value"))
        page.get_by_label("Timeframe").select_option("5s")
        page.get_by_label("Fast period").fill("5")
        page.get_by_label("Slow period").fill("5")
        page.get_by_label("Mode").select_option("long_short")
        choose(page, "Fixed quantity")
        quantity = page.get_by_label("Quantity (units per entry)")
        expect(quantity).to_be_visible()  # app.js shows the field the sizing uses
        quantity.fill(str(QUANTITY))
        page.get_by_label("Product").select_option("MIS")

    with journey.step("validation error fast >= slow"):
        page.get_by_role("button", name="Create strategy").click()
        shown_toast(page, "Not saved: check the highlighted fields.")
        fast = field_of(page, "Fast period")
        expect(fast).to_have_class(re.compile(r"\bhas-error\b"))
        expect(fast.locator(".error")).to_contain_text(
            "Fast period (5) must be shorter than slow period (5)"
        )
        # What was typed survives the refusal.
        expect(page.get_by_label("Timeframe")).to_have_value("5s")
        expect(page.get_by_label("Product")).to_have_value("MIS")
        expect(page.get_by_label("Quantity (units per entry)")).to_have_value(str(QUANTITY))

    with journey.step("strategy created"):
        page.get_by_label("Fast period").fill("2")
        page.get_by_role("button", name="Create strategy").click()
        expect(page).to_have_url(re.compile(r"/app/strategies/\d+/$"))
        expect(page.get_by_role("heading", level=1)).to_contain_text(STRATEGY)
        expect(page.locator("#head-badge")).to_have_text("Inactive")
        shown_toast(page, f"Created “{STRATEGY}”")
        params = page.locator("table").filter(has_text="Parameter")
        expect(params.locator("tr").filter(has_text="Fast period")).to_contain_text("2")
        expect(params.locator("tr").filter(has_text="Slow period")).to_contain_text("5")
        expect(params.locator("tr").filter(has_text="Mode")).to_contain_text("long_short")

    # 3. A backtest: queued (no worker yet) with its progress bar, then the results.
    with journey.step("backtest queued"):
        page.get_by_role("link", name="Backtest", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Backtest “{STRATEGY}”")
        expect(page.locator("#backtest-form")).to_contain_text("synthetic feed")
        page.get_by_role("button", name="Run backtest").click()
        expect(page).to_have_url(re.compile(r"/app/backtests/\d+/$"))
        shown_toast(page, re.compile(r"Backtest #\d+ of “.+” started"))
        expect(page.locator("#bt-badge")).to_have_text("Queued")
        expect(page.get_by_role("progressbar", name="Backtest progress")).to_be_visible()
        expect(page.get_by_role("heading", name="Waiting for a worker…")).to_be_visible()

    with journey.step("backtest results"):
        document = Document(page)
        cluster.start()
        expect(page.get_by_role("progressbar")).to_have_count(0, timeout=BACKTEST_TIMEOUT_MS)
        expect(page.locator("#bt-badge")).to_have_text("Complete")
        headline = page.locator("#bt-body .stats .stat")
        expect(headline).to_have_count(5)
        expect(headline.first).to_contain_text("Total return")
        expect(page.locator("[data-stat='trades']")).to_have_text(re.compile(r"^[1-9][\d,]*$"))
        expect(page.locator("[data-stat='final_equity']")).to_have_text(re.compile(r"^₹[\d,.]+$"))
        for chart in ("backtest-equity", "backtest-price"):
            canvas = page.locator(f"[data-chart='{chart}'][data-chart-ready] canvas").first
            expect(canvas).to_be_visible()
        expect(page.locator("#bt-trades tbody tr").first).to_be_visible()
        document.assert_not_reloaded()  # the results arrived by polling
        document.done()

    # 4. Deploy the backtested configuration on the 5 s synthetic feed.
    with journey.step("deployed"):
        page.get_by_role("button", name="Deploy this configuration").click()
        expect(page).to_have_url(re.compile(r"/app/strategies/\d+/$"))
        shown_toast(page, f"Deployed “{STRATEGY}”: run #1 is live.")
        expect(page.locator("#head-badge")).to_have_text("Running")
        page.get_by_role("link", name="Open live run →").click()
        expect(page).to_have_url(re.compile(r"/app/deployments/\d+/$"))
        expect(page.get_by_role("heading", level=1)).to_contain_text("run #1")
        expect(run_status(page)).to_have_text("Running")
        expect(page.locator("#stop-panel #run-status")).to_have_text("Running")
        expect(page.locator("#live-tiles .live-strip")).to_contain_text("Live")

    # 5. Orders, bars and the equity curve arrive without reloading the page.
    document = Document(page)
    with journey.step("live updates"):
        seen = _watch_live(page, cluster)
        assert_live_chart_readable(page)
        document.assert_not_reloaded()
        journey.artifacts.path("live-timeline.txt").write_text("\n".join(map(str, seen)) + "\n")

    # 6. A manual LIMIT order far below the market rests OPEN; cancel it.
    with journey.step("manual limit order open"):
        last = rupees(position_row(page).locator("td").nth(3).inner_text())
        price = math.floor(last * 0.8)  # whole rupees: on any tick; never fills in a minute
        ticket = page.locator("#order-ticket")
        choose(ticket, "Buy")
        ticket.get_by_label("Type").select_option("LIMIT")
        ticket.get_by_label("Quantity").fill(str(QUANTITY))
        ticket.get_by_label("Limit price (₹)").fill(str(price))
        ticket.get_by_role("button", name=f"Buy {QUANTITY} · LIMIT", exact=True).click()
        placed = shown_toast(page, re.compile(r"Order #\d+ placed"))
        expect(placed).to_contain_text(f"BUY {QUANTITY} {SYMBOL} LIMIT")
        expect(placed).to_contain_text("— open.")
        order_id = int(re.search(r"Order #(\d+)", placed.inner_text()).group(1))
        ref = re.compile(rf"#{order_id}\b")
        open_row = page.locator("#open-orders tbody tr").filter(has_text=ref)
        expect(open_row).to_contain_text("Open")
        expect(open_row.locator(".order-role")).to_have_text("Manual")

    with journey.step("manual order cancelled"):
        open_row.get_by_role("button", name="Cancel").click()
        cancelled = shown_toast(page, f"Cancelled order #{order_id}.")
        expect(open_row).to_have_count(0)
        history_row = page.locator("#orders tbody tr").filter(has_text=ref)
        expect(history_row.locator(".badge")).to_have_text("Cancelled")
        expect(cancelled).to_have_count(0, timeout=10_000)  # a success toast goes by itself
        document.assert_not_reloaded()

    # 7. Stop with square-off: the run closes its position on the next bar and stops.
    with journey.step("stopped with square-off"):
        before = live_snapshot(page)
        held = int(position_row(page).locator("td").nth(1).inner_text().replace(",", ""))
        stop_panel = page.locator("#stop-panel")
        stop_panel.get_by_label("Square off open positions").check()
        page.once("dialog", lambda dialog: dialog.accept())  # hx-confirm asks first
        stop_panel.get_by_role("button", name="Stop this run").click()
        expect(shown_toast(page, "Stopped run #1")).to_contain_text("squaring off")
        expect(run_status(page)).to_have_text("Stopped", timeout=SQUARE_OFF_TIMEOUT_MS)
        expect(page.locator("#stop-panel #run-status")).to_have_text("Stopped")
        expect(page.locator("#live-tiles .live-strip")).to_contain_text("Not trading")
        expect(position_row(page)).to_contain_text("flat")
        expect(position_row(page).locator("td").nth(1)).to_have_text("0")
        squared = page.locator("#stop-panel .kv > div").filter(has_text="Squared off")
        expect(squared.locator("dd")).to_have_text("Yes")
        expect(page.get_by_role("button", name="Stop this run")).to_have_count(0)
        after = live_snapshot(page)
        if held:  # the square-off order is in the history, labelled as such
            assert after["orders"] > before["orders"], (before, after)
            square_off = page.locator("#orders tbody tr .order-role[data-role='square_off']")
            expect(square_off).to_have_text("Square-off")
        document.assert_not_reloaded()
        document.done()

    # 8. The strategy is STOPPED and can be deployed again.
    with journey.step("strategy stopped"):
        page.get_by_role("link", name="Strategy", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(STRATEGY)
        expect(page.locator("#head-badge")).to_have_text("Stopped")
        expect(page.get_by_role("button", name="Deploy again")).to_be_visible()

    # 9. The orders list has the cancelled manual order next to the strategy's own.
    with journey.step("orders list"):
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
        expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()
        row = page.locator("#order-results tbody tr").filter(has_text=ref)
        expect(row.locator(".badge")).to_have_text("Cancelled")
        expect(row).to_contain_text(STRATEGY)
        by_strategy = page.locator("#order-results tbody tr .order-role").filter(
            has_text=re.compile(r"^(Entry|Exit)$")
        )
        expect(by_strategy).not_to_have_count(0)
        expect(row.locator(".order-role")).to_have_text("Manual")


def _choose_type(page: Page, key: str, name: str) -> None:
    """Pick a strategy type and wait for htmx to swap in its parameter fields."""
    params = page.locator("#param-fields")
    params.evaluate("el => el.querySelectorAll('input, select').forEach(i => i.dataset.stale = 1)")
    page.get_by_label("Strategy type").select_option(key)
    expect(params.locator("[name='param_fast']:not([data-stale])")).to_be_attached()
    expect(params.locator(".type-note")).to_contain_text(name)


def _watch_live(page: Page, cluster: Cluster) -> list[dict[str, Any]]:
    """Poll the live region until bars, equity points and strategy orders have all arrived."""
    seen: list[dict[str, Any]] = []
    bars: set[int] = set()
    legends: set[str] = set()

    def progressed() -> bool:
        now = live_snapshot(page)
        if not seen or {k: v for k, v in now.items() if k != "asOf"} != {
            k: v for k, v in seen[-1].items() if k != "asOf"
        }:
            seen.append(now)
        bars.add(now["bars"])
        if now["legend"]:
            legends.add(now["legend"])
        return (
            len(bars - {0}) >= 3  # three steps' worth of bars, one refresh at a time
            and len(legends) >= 3  # the chart took new points at least twice
            and now["strategyOrders"] >= 1
            and not now["chartEmpty"]
        )

    wait_until(
        progressed,
        timeout=LIVE_TIMEOUT_S,
        what="bars, equity points and a strategy order on the deployment page",
        interval=0.5,
        diagnostics=lambda: f"seen: {seen[-5:]}\n{cluster.log_tail()}",
    )
    return seen
