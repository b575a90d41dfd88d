"""Optimise a strategy in a real browser (issue 14, the dashboard).

Open the strategy, follow "Optimise", sweep fast 5..15 step 5 x slow [20, 30, 40] on GOOG's
daily bars (the form shows each parameter's inputs for its chosen mode), land on the sweep's
page and see the progress complete, the heatmap (its cells the results' values, readable) and
the top-results table; sort it; click "Backtest this" on the best row and land on that
backtest, complete, with the row's parameters. The sweep and the backtest run inline (test
settings: django-q2 sync), so the progress is complete by the time the page renders.
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
    from playwright.sync_api import Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

EMAIL = "opti.miser@example.com"


@pytest.fixture
def strategy_id(make_strategy) -> int:
    from tests.factories import UserFactory

    strategy = make_strategy(
        UserFactory(email=EMAIL),
        name="GOOG crossover",
        params={"fast": 10, "slow": 20, "mode": "long_short"},
        product="CNC",
    )
    return strategy.pk


def _cell_texts(page: Page) -> list[str]:
    return page.locator("table.heatmap tbody td").all_inner_texts()


def test_optimise_a_strategy_and_backtest_the_winner(strategy_id, signed_in, artifacts: Artifacts):
    from execution.models import Backtest, BacktestStatus
    from optimisation.models import Sweep, SweepStatus

    tab = signed_in(EMAIL)
    page = tab.page

    page.goto(f"/app/strategies/{strategy_id}/")
    page.get_by_role("link", name="Optimise").click()
    expect(page.get_by_role("heading", name="Optimise “GOOG crossover”", level=1)).to_be_visible()
    # fixed by default: only the value input shows; a range shows start, stop and step
    expect(page.locator("#id_p_fast_value")).to_be_visible()
    expect(page.locator("#id_p_fast_start")).to_be_hidden()
    page.locator("#id_p_fast").select_option("range")
    expect(page.locator("#id_p_fast_value")).to_be_hidden()
    page.locator("#id_p_fast_start").fill("5")
    page.locator("#id_p_fast_stop").fill("15")
    page.locator("#id_p_fast_step").fill("5")
    page.locator("#id_p_slow").select_option("list")
    page.locator("#id_p_slow_list").fill("20, 30, 40")
    page.get_by_label("Start", exact=True).fill("2006-01-01")
    page.get_by_label("End", exact=True).fill("2007-12-31")
    artifacts.shot(page, "space form")
    page.get_by_role("button", name="Start sweep").click()

    # the sweep's page: progress complete, polling stopped
    expect(page.get_by_role("heading", name=re.compile(r"^Sweep #\d+"), level=1)).to_be_visible()
    sweep = Sweep.objects.get(strategy_id=strategy_id)
    assert sweep.status == SweepStatus.COMPLETE, sweep.error
    expect(page.locator("#sweep-progress h2")).to_have_text("Sweep complete")
    expect(page.locator("#sweep-done")).to_have_text("9 / 9")
    expect(page.locator("#sweep-pct")).to_have_text("100.0%")
    assert page.locator("#sweep-body").get_attribute("hx-trigger") is None
    width = page.locator(".progress-fill").evaluate("el => el.style.width")
    assert width == "100%"

    # the heatmap: fast across, slow down, each cell the result's objective
    expect(page.locator("table.heatmap tbody td")).to_have_count(9)
    results = {(r.params["fast"], r.params["slow"]): r.value for r in sweep.results.all()}
    for cell in page.locator("table.heatmap tbody td").all():
        x, y = int(cell.get_attribute("data-x")), int(cell.get_attribute("data-y"))
        value = results[(x, y)]
        assert cell.inner_text() == (f"{value:.2f}" if value is not None else "n/a")
    # swap the axes with the selects: slow across now
    page.get_by_label("Across (x)").select_option("slow")
    expect(page.locator("table.heatmap")).to_have_attribute("data-x", "slow")
    expect(page.locator("table.heatmap")).to_have_attribute("data-y", "fast")
    artifacts.shot(page, "sweep complete with heatmap")

    # the top results, best first; sorted by trades on a click
    rows = page.locator("#results-table tbody tr")
    expect(rows).to_have_count(9)
    best = sweep.results.get(value=sweep.best_value) if sweep.best_value is not None else None
    assert best is not None
    expect(rows.first).to_have_attribute("data-result", str(best.pk))
    page.locator('a[data-sort="trades"]').click()
    expect(page.locator('th[aria-sort="descending"] a[data-sort="trades"]')).to_be_visible()
    trades = [int(t) for t in page.locator('td[data-col="trades"]').all_inner_texts()]
    assert trades == sorted(trades, reverse=True)
    page.locator('a[data-sort="value"]').click()
    expect(page.locator('th[aria-sort="descending"] a[data-sort="value"]')).to_be_visible()
    expect(rows.first).to_have_attribute("data-result", str(best.pk))

    # "Backtest this" on the best row: that backtest's page, complete, with its parameters
    rows.first.get_by_role("button", name="Backtest this").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Backtest #\d+"), level=1)).to_be_visible()
    bt = Backtest.objects.get(strategy_id=strategy_id)
    assert bt.status == BacktestStatus.COMPLETE, bt.error
    assert bt.config["params"] == best.params
    assert bt.stats == best.stats
    assert page.url.endswith(f"/app/backtests/{bt.pk}/")
    artifacts.shot(page, "backtest of the winner")

    # robustness of the winner: a Monte Carlo of that backtest, then a walk-forward
    page.goto(f"/app/optimisations/{sweep.pk}/")
    mc = page.locator("#mc-form")
    mc.get_by_label("Method").select_option("bootstrap_returns")
    mc.get_by_label("Paths").fill("300")
    mc.get_by_role("button", name="Run Monte Carlo").click()
    expect(
        page.get_by_role("heading", name=re.compile(r"^Monte Carlo #\d+"), level=1)
    ).to_be_visible()
    for hist in ("#mc-hist-equity", "#mc-hist-drawdown"):
        counts = page.locator(f"{hist} tbody tr td:nth-child(3)").all_inner_texts()
        assert sum(int(c.replace(",", "")) for c in counts) == 300
    expect(page.locator("#mc-percentiles tbody tr")).to_have_count(5)
    artifacts.shot(page, "Monte Carlo of the winner")

    page.goto(f"/app/optimisations/{sweep.pk}/")
    wf = page.locator("#wf-form")
    wf.get_by_label("Windows").fill("3")
    wf.get_by_label("In-sample ratio").fill("2")
    wf.get_by_role("button", name="Run walk-forward").click()
    expect(
        page.get_by_role("heading", name=re.compile(r"^Walk-forward #\d+"), level=1)
    ).to_be_visible()
    expect(page.locator("#wf-windows tbody tr")).to_have_count(3)
    chart = page.locator('[data-chart="wf-equity"]')
    expect(chart).to_have_attribute("data-chart-ready", "1")
    points = chart.evaluate("el => el.lwChart.panes()[0].getSeries()[0].data().length")
    assert points > 10
    artifacts.shot(page, "walk-forward of the sweep")

    # on a phone: the page never scrolls sideways (wide tables scroll inside their card) and
    # the heatmap stays a grid, not a stack of cards
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/app/optimisations/{sweep.pk}/")
    expect(page.locator("table.heatmap")).not_to_have_class(re.compile("cards-sm"))
    expect(page.locator("#results-table")).to_have_class(re.compile("cards-sm"))
    assert page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth") <= 0
    artifacts.shot(page, "sweep on a phone")
    assert not tab.errors, tab.errors
    assert not tab.csp, tab.csp
