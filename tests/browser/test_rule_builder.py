"""The rule builder in a real browser (issue 13, dashboard): build, preview, save, backtest.

The trader builds "SMA(20) crosses above SMA(50) and RSI(14) < 60; stop 2 %; target 5 %" with
the selects alone: every change is an htmx post the server answers with the re-rendered
builder, so each step waits for what the server sent back (an input of the new shape, the
preview text) before the next. Then save, "Backtest now", and the backtest completes (tasks
run inline under the test settings). No CSP violation and no page error on the way.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import Artifacts

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
    pytest.mark.timeout(180),
]

RULE = "entry_long: sma(20) crosses_above sma(50) and rsi(14) < 60"
RULE_WITH_EXITS = RULE + "\nstop_loss: 2%\ntarget: 5%"


def field(page: Page, path: str) -> Locator:
    """The builder's input at ``path``, once htmx has settled the panel it came in.

    The panel is swapped whole and its ``change`` trigger is attached as it settles: a select
    changed in those few milliseconds (a robot's speed, not a person's) would send nothing.
    """
    settling = "#rule-builder.htmx-added, #rule-builder.htmx-settling, #rule-builder .htmx-added"
    expect(page.locator(settling)).to_have_count(0)
    return page.locator(f'#rule-builder [name="{path}"]')


def test_build_preview_save_and_backtest(signed_in, artifacts: Artifacts):
    tab = signed_in("rule.builder@example.com")
    page = tab.page
    page.goto("/app/strategies/")
    page.get_by_role("link", name="+ Build a rule").click()
    expect(page.get_by_role("heading", name="Build a rule", level=1)).to_be_visible()
    preview = page.locator("#rule-preview")

    # Clear the starting template: no entry, no exit.
    page.get_by_role("button", name="Remove condition entry_long.all[0]").click()
    expect(preview).to_contain_text("entry_long: rsi(14) < 60\n")
    page.get_by_role("button", name="Remove condition exit_long.all[0]").click()
    expect(preview).to_have_text("entry_long: rsi(14) < 60")
    page.get_by_role("button", name="Remove condition entry_long.all[0]").click()
    entry = page.locator('[data-section="entry_long"]')
    expect(entry).to_contain_text("an entry is required")
    expect(preview).to_have_text("Fix the highlighted conditions to see the rule.")

    # SMA(20) crosses above SMA(50): a new condition starts as sma(20) > sma(50).
    entry.get_by_role("button", name="+ Condition").click()
    expect(preview).to_have_text("entry_long: sma(20) > sma(50)")
    field(page, "entry_long.all[0].op").select_option("crosses_above")
    expect(preview).to_have_text("entry_long: sma(20) crosses_above sma(50)")

    # RSI(14) < 60: the source select brings the indicator's own inputs back from the server.
    entry.get_by_role("button", name="+ Condition").click()
    expect(field(page, "entry_long.all[1].left.source")).to_have_value("sma")
    field(page, "entry_long.all[1].left.source").select_option("rsi")
    expect(preview).to_contain_text("and rsi(20) > sma(50)")  # the period typed stays

    # A bad period shows its error at that condition, and goes once fixed.
    period = field(page, "entry_long.all[1].left.period")
    period.fill("1")
    period.press("Tab")
    bad = page.locator('[data-path="entry_long.all[1]"]')
    expect(bad).to_have_class(re.compile(r"\bhas-error\b"))
    expect(bad).to_contain_text("Left period: Must be at least 2.")
    expect(page.locator('[data-path="entry_long.all[0]"]')).not_to_have_class(
        re.compile(r"\bhas-error\b")
    )
    expect(preview).to_have_text("Fix the highlighted conditions to see the rule.")
    period = field(page, "entry_long.all[1].left.period")
    period.fill("14")
    period.press("Tab")
    expect(preview).to_contain_text("and rsi(14) > sma(50)")

    field(page, "entry_long.all[1].op").select_option("<")
    expect(preview).to_contain_text("rsi(14) < sma(50)")
    field(page, "entry_long.all[1].right.source").select_option("const")
    value = field(page, "entry_long.all[1].right.const")
    expect(value).to_be_visible()
    value.fill("60")
    value.press("Tab")
    expect(preview).to_have_text(RULE)

    # The exits sit outside the swaps; a change of one refreshes the preview, which prints it.
    stop = page.get_by_label("Stop-loss %")
    stop.fill("2")
    stop.press("Tab")
    expect(preview).to_have_text(RULE + "\nstop_loss: 2%")
    target = page.get_by_label("Target %")
    target.fill("5")
    target.press("Tab")
    expect(preview).to_have_text(RULE_WITH_EXITS)
    expect(page.locator("#help_stop_loss_pct")).to_contain_text("fill price")
    page.get_by_label("Name", exact=True).fill("Golden RSI")
    artifacts.shot(page, "built")

    page.get_by_role("button", name="Create strategy").click()
    expect(page).to_have_url(re.compile(r"/app/strategies/\d+/rules/$"))
    expect(page.locator("#rule-preview")).to_have_text(RULE_WITH_EXITS)
    expect(page.get_by_label("Stop-loss %")).to_have_value("2")
    expect(page.get_by_label("Target %")).to_have_value("5")

    page.get_by_role("link", name="Backtest now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Backtest “Golden RSI”")
    page.get_by_role("button", name="Run backtest").click()
    expect(page).to_have_url(re.compile(r"/app/backtests/\d+/$"))
    expect(page.locator("#bt-badge")).to_have_text("Complete")
    expect(page.locator("[data-stat='trades']")).to_have_text(re.compile(r"^[\d,]+$"))
    artifacts.shot(page, "backtested")

    assert not tab.csp, f"Content-Security-Policy violations: {tab.csp}"
    assert not tab.errors, tab.errors


def test_templates_and_the_text_box(signed_in, artifacts: Artifacts):
    tab = signed_in("rule.text@example.com")
    page = tab.page
    page.goto("/app/strategies/rules/new/")
    preview = page.locator("#rule-preview")

    # A template brings its conditions and (out of band) its exits.
    page.get_by_role("button", name="Opening-range breakout (intraday, out by 15:15)").click()
    expect(preview).to_have_text(
        "entry_long: close > donchian_high(15)[1] and close > vwap\n"
        "stop_loss: 1%\ntarget: 2%\nexit_at: 15:15"
    )
    expect(page.get_by_label("Exit at (time of day)")).to_have_value("15:15")
    expect(page.get_by_label("Stop-loss %")).to_have_value("1")

    # The text box: an error names its line and column; a good text replaces the conditions.
    page.get_by_text("Type the rule as text instead").click()
    box = page.get_by_label("Rule text")
    box.fill("entry_long: close > sma(20)\nexit_long: close <<< sma(20)")
    page.get_by_role("button", name="Use this text").click()
    expect(page.locator(".rule-text .error").first).to_contain_text(
        re.compile(r"Line 2, column \d+:")
    )
    expect(page.get_by_label("Rule text")).to_have_value(
        "entry_long: close > sma(20)\nexit_long: close <<< sma(20)"
    )
    # The text is the whole rule, exits included: those it leaves out are removed.
    page.get_by_label("Rule text").fill(
        "entry_long: close > sma(20)\nexit_long: close < sma(20)\nstop_loss: 3%\nexit_at: 9:30"
    )
    page.get_by_role("button", name="Use this text").click()
    expect(preview).to_have_text(
        "entry_long: close > sma(20)\nexit_long: close < sma(20)\nstop_loss: 3%\nexit_at: 09:30"
    )
    expect(page.get_by_label("Exit at (time of day)")).to_have_value("09:30")
    expect(page.get_by_label("Stop-loss %")).to_have_value("3")
    expect(page.get_by_label("Target %")).to_have_value("")
    artifacts.shot(page, "text")
    page.emulate_media(color_scheme="dark")
    artifacts.shot(page, "text dark")

    assert not tab.csp, f"Content-Security-Policy violations: {tab.csp}"
    assert not tab.errors, tab.errors


# Every htmx request a change sends (by the element that sent it), when each redraw of the
# picker landed, and when the search box last got a letter.
REQUESTS = """
window.__sent = [];
window.__swaps = [];
window.__typed = [];
document.addEventListener("htmx:beforeRequest", (e) => window.__sent.push(e.detail.elt.id));
document.addEventListener("htmx:afterSwap", (e) => window.__swaps.push(performance.now()));
document.addEventListener("input", (e) => window.__typed.push(performance.now()));
"""


def test_typing_in_the_basket_search_keeps_its_focus_and_text(
    signed_in, monkeypatch, artifacts: Artifacts
):
    """The picker's answers come slowly here (as on a slow line), so one lands while the trader
    is still typing: the search box is never redrawn, so it keeps its focus and every letter.
    Ticking a match redraws the picker alone; an exit's change redraws the builder (its
    preview) alone, and the basket stays as it was."""
    import time

    from strategies import views

    picker_context = views.picker_context

    def slow_picker_context(*args, **kwargs):
        time.sleep(0.6)
        return picker_context(*args, **kwargs)

    monkeypatch.setattr(views, "picker_context", slow_picker_context)
    tab = signed_in("basket.search@example.com")
    page = tab.page
    page.goto("/app/strategies/rules/new/")
    preview = page.locator("#rule-preview")
    expect(preview).to_contain_text("entry_long: sma(20) crosses_above sma(50)")
    page.evaluate(REQUESTS + "window.__q = document.getElementById('basket-q');")

    search = page.locator("#basket-q")
    search.press_sequentially("RE", delay=50)
    page.wait_for_timeout(400)  # the search for "RE" is on its way: it lands mid-word
    search.press_sequentially("LIANCE", delay=120)
    expect(search).to_have_value("RELIANCE")
    # the search for the whole word has landed too (after the last letter and the debounce)
    page.wait_for_function(
        "() => window.__swaps.some((t) => t > window.__typed[window.__typed.length - 1] + 300)"
    )
    landed_mid_word = page.evaluate(
        "() => window.__swaps.some((t) => t > window.__typed[0] && t < window.__typed.at(-1))"
    )
    assert landed_mid_word, "no redraw landed while typing: the test proves nothing"
    assert page.evaluate("() => document.activeElement === window.__q && window.__q.isConnected")
    expect(search).to_have_value("RELIANCE")
    match = page.locator('#basket-picker [data-basket-result="NSE:RELIANCE"]')
    expect(match).to_be_visible()

    page.evaluate("() => { window.__sent = []; }")
    match.check()
    expect(page.locator('#basket-picker [data-basket-member="NSE:RELIANCE"]')).to_be_checked()
    assert set(page.evaluate("() => window.__sent")) == {"basket-picked"}

    page.evaluate("() => { window.__sent = []; }")
    stop = page.get_by_label("Stop-loss %")
    stop.fill("3")
    stop.press("Tab")
    expect(preview).to_contain_text("stop_loss: 3%")
    assert set(page.evaluate("() => window.__sent")) == {"rule-exits"}
    expect(page.locator('#basket-picker [data-basket-member="NSE:RELIANCE"]')).to_be_checked()
    expect(search).to_have_value("RELIANCE")
    artifacts.shot(page, "basket searched while typing")
    assert not tab.errors, tab.errors
    assert not tab.csp, tab.csp
