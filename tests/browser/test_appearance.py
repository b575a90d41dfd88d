"""Appearance in a real browser: dark mode, the 390 px layout, the chart legend, toasts.

The issue (i17, item 10): no dark mode; at 390 px the navigation scrolled sideways with
"Deployments" and "Orders" cut off and the orders table showed two columns before scrolling; the
equity chart's legend lay over the axis labels; toasts stayed over the content after their work
was done. ``test_screenshot_tour`` also writes full-page screenshots of the journey's pages at
1366 and 390 px, light and dark, into ``$SCREENSHOT_DIR`` (default ``/tmp/shots``) for a person
to look at.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone

from tests.browser.conftest import logged_in
from tests.factories import TEST_PASSWORD, UserFactory

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

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
NAV_LINKS = ["Overview", "Strategies", "Backtests", "Deployments", "Orders"]
TOAST_LIFETIME_S = 5  # a success toast (app.js LIFETIME)


@dataclass
class Site:
    """One user's worth of pages: a finished backtest and a running deployment with orders."""

    email: str
    strategy_id: int
    backtest_id: int
    deployment_id: int

    def pages(self) -> list[tuple[str, str]]:
        """(name, path) of the journey's logged-in pages, in the order a user meets them."""
        return [
            ("dashboard", "/app/"),
            ("strategies", "/app/strategies/"),
            ("strategy-detail", f"/app/strategies/{self.strategy_id}/"),
            ("new-strategy", "/app/strategies/new/"),
            ("backtest-form", f"/app/strategies/{self.strategy_id}/backtest/"),
            ("backtest-result", f"/app/backtests/{self.backtest_id}/"),
            ("backtests", "/app/backtests/"),
            ("deployment", f"/app/deployments/{self.deployment_id}/"),
            ("deployments", "/app/deployments/"),
            ("orders", "/app/orders/"),
        ]


@pytest.fixture
def site(_seeded) -> Site:
    """Build the data through the real services (jobs run inline in the test settings)."""
    from execution.models import Backtest, BacktestStatus
    from execution.services.backtests import backtest_execute, backtest_request
    from execution.services.live import deployment_step
    from execution.services.live_orders import order_place
    from strategies import services
    from strategies.tests.factories import StrategyFactory, seeded_instrument

    user = UserFactory()
    daily = StrategyFactory(owner=user, name="RELIANCE SMA 10/30 daily")
    backtest = backtest_request(strategy=daily, user=user)
    if Backtest.objects.get(pk=backtest.pk).status != BacktestStatus.COMPLETE:
        backtest_execute(backtest_id=backtest.pk)
    assert Backtest.objects.get(pk=backtest.pk).status == BacktestStatus.COMPLETE

    live = StrategyFactory(
        owner=user,
        name="RELIANCE 5s quiet RSI",
        strategy_type="rsi_reversion",
        params={"period": 100, "oversold": 1.0, "overbought": 99.0, "mode": "long_only"},
        instrument=seeded_instrument("RELIANCE"),
        timeframe="5s",
        quantity=10,
        allocation_pct=None,
        product="MIS",
    )
    deployment = services.strategy_deploy(strategy=live, actor=user)

    def step(seconds: int) -> None:
        deployment_step(
            deployment_id=deployment.pk, now=timezone.now() + timedelta(seconds=seconds)
        )

    step(10)
    order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=10)
    step(40)
    order_place(
        deployment=deployment,
        side="BUY",
        order_type="LIMIT",
        quantity=10,
        price=Decimal("1.00"),  # far below the market: it rests OPEN
    )
    return Site(user.email, daily.pk, backtest.pk, deployment.pk)


@pytest.fixture
def user_tab(new_tab, site):
    """A logged-in tab of the ``site`` user."""

    def open_tab(label: str = "user", *, viewport=DESKTOP, scheme: str = "light"):
        tab = new_tab(label)
        tab.page.set_viewport_size(viewport)
        tab.page.emulate_media(color_scheme=scheme)
        logged_in(tab.page, email=site.email, password=TEST_PASSWORD)
        return tab

    return open_tab


# --- page reading ------------------------------------------------------------------------------


def background_luminance(page: Page) -> float:
    """Relative luminance (0 black .. 1 white) of the page's background colour."""
    rgb = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+(?:\.\d+)?", rgb)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page scrolls sideways (0 when it fits the viewport)."""
    return page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")


SIDEWAYS_SCROLLERS = """() => [...document.querySelectorAll('body *')]
  .filter(el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX)
                && el.scrollWidth > el.clientWidth + 1 && el.getClientRects().length)
  .map(el => `${el.tagName.toLowerCase()}.${el.className || el.id}`
             + ` by ${el.scrollWidth - el.clientWidth}px`)"""


def sideways_scrollers(page: Page) -> list[str]:
    """The visible elements whose content scrolls sideways inside them (a nav, a table)."""
    return page.evaluate(SIDEWAYS_SCROLLERS)


def settled(page: Page) -> None:
    """Fonts loaded and the charts drawn, so measurements are of the final layout."""
    page.wait_for_load_state("load")
    page.evaluate("() => document.fonts.ready.then(() => true)")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-chart]')]"
        ".every(el => el.lwChart || !document.getElementById(el.dataset.source))"
    )


# --- dark mode ---------------------------------------------------------------------------------


def test_dark_mode_follows_the_system_setting(user_tab, site):
    tab = user_tab("system", scheme="dark")
    page = tab.page
    page.goto(f"/app/backtests/{site.backtest_id}/")
    settled(page)
    assert background_luminance(page) < 0.1
    ink = page.evaluate("() => getComputedStyle(document.body).color")
    assert background_luminance(page) < 0.1 and ink != "rgb(15, 23, 42)"  # light text on dark
    dark_axis = page.evaluate(
        "() => document.querySelector('[data-chart]').lwChart.options().layout.textColor"
    )

    page.emulate_media(color_scheme="light")  # the system switches while the page is open
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert background_luminance(page) > 0.8
    light_axis = page.evaluate(
        "() => document.querySelector('[data-chart]').lwChart.options().layout.textColor"
    )
    assert light_axis != dark_axis  # the charts were re-coloured without a reload
    assert not tab.csp, tab.csp
    assert not tab.errors, tab.errors


def test_the_theme_picker_wins_over_the_system_and_is_remembered(user_tab, site):
    tab = user_tab("picker", scheme="light")
    page = tab.page
    page.goto(f"/app/backtests/{site.backtest_id}/")
    settled(page)
    assert background_luminance(page) > 0.8
    axis = "() => document.querySelector('[data-chart]').lwChart.options().layout.textColor"
    light_axis = page.evaluate(axis)

    page.get_by_label("Theme").select_option("dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert background_luminance(page) < 0.1
    assert page.evaluate(axis) != light_axis

    page.reload()
    settled(page)
    assert background_luminance(page) < 0.1  # remembered, on a system that is light
    expect(page.get_by_label("Theme")).to_have_value("dark")
    page.goto("/app/orders/")
    assert background_luminance(page) < 0.1  # on every page

    page.get_by_label("Theme").select_option("system")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    page.reload()
    assert background_luminance(page) > 0.8
    assert not tab.csp, tab.csp
    assert not tab.errors, tab.errors


# --- 390 px ------------------------------------------------------------------------------------


def test_no_page_scrolls_sideways_on_a_phone(user_tab, site, new_tab):
    tab = user_tab("phone", viewport=PHONE)
    page = tab.page
    overflowing = {}
    for name, path in site.pages():
        page.goto(path)
        settled(page)
        if (extra := horizontal_overflow(page)) > 0:
            overflowing[name] = extra
        if scrollers := sideways_scrollers(page):
            overflowing[name] = scrollers
    visitor = new_tab("visitor").page
    visitor.set_viewport_size(PHONE)
    for path in ("/", "/login/", "/signup/"):
        visitor.goto(path)
        if (extra := horizontal_overflow(visitor)) > 0:
            overflowing[path] = extra
    assert not overflowing, f"sideways scrolling at 390 px: {overflowing}"


@pytest.mark.parametrize("width", [800, 1024, 1280, 1366])
def test_the_top_bar_fits_tablets_and_laptops(user_tab, width):
    """Between the phone layout and a wide screen the top bar once scrolled sideways (at
    1280 px, with Brokers and Notifications in it): every link stays on screen, one line or
    two."""
    page = user_tab("laptop", viewport={"width": width, "height": 900}).page
    settled(page)
    assert horizontal_overflow(page) <= 0
    header = page.locator(".topbar-inner")
    assert header.evaluate("el => el.scrollWidth <= el.clientWidth"), width
    nav = page.get_by_role("navigation", name="Main")
    for name in [*NAV_LINKS, "Brokers"]:
        box = nav.get_by_role("link", name=name, exact=True).bounding_box()
        assert box is not None and box["x"] + box["width"] <= width, (name, box)
    log_out = page.get_by_role("button", name="Log out").bounding_box()
    assert log_out is not None and log_out["x"] + log_out["width"] <= width, log_out


def test_every_nav_link_is_on_screen_on_a_phone(user_tab):
    page = user_tab("phone", viewport=PHONE).page
    nav = page.get_by_role("navigation", name="Main")
    for name in NAV_LINKS:
        link = nav.get_by_role("link", name=name, exact=True)
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (name, box)
    nav.get_by_role("link", name="Orders", exact=True).click()
    expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()
    assert page.evaluate("() => document.querySelector('.mainnav').scrollWidth") <= PHONE["width"]


def test_order_rows_show_every_field_on_a_phone(user_tab):
    """Every cell of an order row is on screen, each with its column's name."""
    page = user_tab("phone", viewport=PHONE).page
    page.goto("/app/orders/")
    row = page.locator("#main table tbody tr").first
    expect(row).to_be_visible()
    cells = row.locator("td")
    headers = page.locator("#main table thead th").all_inner_texts()
    shown = 0
    for i in range(cells.count()):
        cell = cells.nth(i)
        if not cell.is_visible():
            continue
        box = cell.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (i, box)
        label = cell.evaluate("td => getComputedStyle(td, '::before').content")
        if headers[i].strip():
            assert headers[i].strip().lower() in label.lower(), (headers[i], label)
        shown += 1
    assert shown >= 5


# --- the equity chart's legend -----------------------------------------------------------------


LEGEND_VS_AXES = """(el) => {
  const legend = el.previousElementSibling;
  const chart = el.lwChart;
  const r = el.getBoundingClientRect();
  const l = legend.getBoundingClientRect();
  const priceAxis = {left: r.right - chart.priceScale('right').width(), right: r.right,
                     top: r.top, bottom: r.bottom};
  const timeAxis = {left: r.left, right: r.right,
                    top: r.bottom - chart.timeScale().height(), bottom: r.bottom};
  const meets = (a, b) =>
    a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  return {legend: [l.left, l.top, l.right, l.bottom], text: legend.innerText,
          price: meets(l, priceAxis), time: meets(l, timeAxis)};
}"""


def test_the_equity_legends_stay_clear_of_the_axis_labels(user_tab, site):
    page = user_tab("charts", viewport=PHONE).page
    for viewport, path, kind in [
        (viewport, path, kind)
        for viewport in (PHONE, DESKTOP)
        for path, kind in [
            (f"/app/backtests/{site.backtest_id}/", "backtest-equity"),
            (f"/app/backtests/{site.backtest_id}/", "backtest-price"),
            (f"/app/deployments/{site.deployment_id}/", "live-equity"),
        ]
    ]:
        page.set_viewport_size(viewport)
        page.goto(path)
        settled(page)
        chart = page.locator(f'[data-chart="{kind}"]')
        chart.scroll_into_view_if_needed()
        found = chart.evaluate(LEGEND_VS_AXES)
        assert "Equity" in found["text"] or kind == "backtest-price", found
        where = f"{kind} at {viewport['width']} px"
        assert not found["price"], f"{where}: the legend covers the price axis {found}"
        assert not found["time"], f"{where}: the legend covers the time axis {found}"


# --- toasts ------------------------------------------------------------------------------------


def test_toasts_go_away_unless_a_reader_holds_them(user_tab, site):
    """A toast that appears under a resting pointer (the tap that placed the order) leaves on
    time; one the reader moves the mouse onto waits until the pointer leaves it."""
    page = user_tab("phone", viewport=PHONE).page
    page.goto(f"/app/deployments/{site.deployment_id}/")
    settled(page)
    page.mouse.move(PHONE["width"] / 2, PHONE["height"] - 40)  # where toasts appear
    page.evaluate("() => window.algosaas.toast('success', 'Order #1 placed.')")
    toast = page.locator("#toasts .toast")
    expect(toast).to_have_count(1)
    box = toast.bounding_box()
    assert box["y"] < PHONE["height"] - 40 < box["y"] + box["height"]  # under the pointer
    expect(toast).to_have_count(0, timeout=(TOAST_LIFETIME_S + 3) * 1000)

    page.set_viewport_size(DESKTOP)
    page.reload()
    settled(page)
    ticket = page.locator("form[data-ticket]")
    ticket.get_by_label("Quantity").fill("1")
    ticket.locator(".ticket-submit").click()
    expect(toast).to_contain_text("placed")
    box = toast.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 10, steps=4)  # a reader hovers it
    page.wait_for_timeout((TOAST_LIFETIME_S + 1) * 1000)
    expect(toast).to_have_count(1)  # paused while read
    page.mouse.move(5, 300, steps=4)
    expect(toast).to_have_count(0, timeout=(TOAST_LIFETIME_S + 3) * 1000)


# --- the screenshot tour -----------------------------------------------------------------------


def screenshot_root() -> Path:
    return Path(os.environ.get("SCREENSHOT_DIR") or "/tmp/shots")


def test_screenshot_tour(user_tab, site, new_tab):
    """Full-page screenshots of the journey at 1366 and 390 px, light and dark.

    Each page is checked as it is shot: it is in the theme asked for and fits the width.
    """
    problems: list[str] = []
    written = 0
    for viewport in (DESKTOP, PHONE):
        for theme in ("light", "dark"):
            folder = screenshot_root() / f"{viewport['width']}-{theme}"
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("*.png"):
                old.unlink()
            visitor = new_tab(f"visitor-{viewport['width']}-{theme}")
            visitor.page.set_viewport_size(viewport)
            visitor.page.emulate_media(color_scheme=theme)
            visitor.page.goto("/login/")
            shots = [("login", visitor.page)]
            tab = user_tab(f"tour-{viewport['width']}-{theme}", viewport=viewport, scheme=theme)
            for n, (name, page) in enumerate(
                shots + [(name, tab.page) for name, _ in site.pages()], start=1
            ):
                if page is tab.page:
                    page.goto(dict(site.pages())[name])
                settled(page)
                page.evaluate("() => window.scrollTo(0, 0)")
                lum = background_luminance(page)
                if (lum < 0.1) != (theme == "dark"):
                    problems.append(f"{viewport['width']} {theme} {name}: luminance {lum:.2f}")
                if (extra := horizontal_overflow(page)) > 0:
                    problems.append(f"{viewport['width']} {theme} {name}: {extra} px sideways")
                if scrollers := sideways_scrollers(page):
                    problems.append(f"{viewport['width']} {theme} {name}: {scrollers}")
                page.screenshot(path=str(folder / f"{n:02d}-{name}.png"), full_page=True)
                written += 1
            assert not tab.errors and not tab.csp, (tab.errors, tab.csp)
            visitor.page.context.close()
            tab.page.context.close()
    assert written == 4 * (1 + len(site.pages()))
    assert not problems, problems
