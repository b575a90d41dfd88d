"""Money in the instrument's currency, costs that fit it (issue 17, item 4), in a real browser.

The overview totals rupees and dollars apart. A NASDAQ:GOOG backtest shows dollars (in the
server-rendered stats and in the charts' JS legends alike), an NSE one rupees with lakh
grouping. GOOG's backtest form leaves the Indian-charges box unticked, defaults to a flat
commission, and shows the estimated charges per round trip, which follow the capital typed in.
The strategy form defaults the product to MIS when a 1-minute timeframe is chosen, and keeps a
product the user picked. The backtests run inline (test settings).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
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

EMAIL = "dollar.rupee@example.com"


@pytest.fixture
def runs(make_strategy) -> dict[str, int]:
    from execution.models import Backtest, BacktestStatus
    from execution.services.backtests import backtest_request
    from strategies import services
    from strategies.tests.factories import seeded_instrument
    from tests.factories import UserFactory

    owner = UserFactory(email=EMAIL)
    goog = make_strategy(owner, name="GOOG trend")
    nse = make_strategy(
        owner,
        name="Reliance trend",
        instrument=seeded_instrument("RELIANCE"),
        capital=Decimal("1000000"),
    )
    ids = {"goog": goog.pk}
    for key, strategy, start in (("goog_bt", goog, date(2005, 1, 1)), ("nse_bt", nse, None)):
        bt = backtest_request(
            strategy=strategy, user=owner, start=start, end=start and date(2005, 12, 31)
        )
        assert Backtest.objects.get(pk=bt.pk).status == BacktestStatus.COMPLETE
        ids[key] = bt.pk
    for strategy in (goog, nse):  # one running deployment in each currency
        services.strategy_deploy(strategy=strategy, actor=owner)
    return ids


def _legend(page: Page, chart: str) -> str:
    legend = page.locator(f'.chart-legend:has(+ [data-chart="{chart}"])')
    expect(legend).not_to_be_empty()
    return legend.inner_text()


def test_money_and_costs_fit_the_instrument(runs, signed_in, artifacts: Artifacts):
    page = signed_in(EMAIL).page

    # The overview never adds rupees to dollars: one total per currency.
    equity = page.locator('[data-tile="total-equity"]')
    expect(equity).to_contain_text("₹10,00,000.00")
    expect(equity).to_contain_text("$10,000.00")
    artifacts.shot(page, "overview totals per currency")

    # A NASDAQ backtest: dollars in the stats and in both charts' legends, no rupee anywhere.
    page.goto(f"/app/backtests/{runs['goog_bt']}/")
    expect(page.locator('[data-stat="final_equity"]')).to_contain_text("$")
    expect(page.locator("main")).to_contain_text("$10,000.00")  # the capital
    assert "Equity $" in _legend(page, "backtest-equity")
    assert _legend(page, "backtest-price").split("O ")[1].startswith("$")
    assert "₹" not in page.locator("main").inner_text()
    artifacts.shot(page, "GOOG backtest in dollars")

    # An NSE backtest: rupees with lakh grouping.
    page.goto(f"/app/backtests/{runs['nse_bt']}/")
    expect(page.locator("main")).to_contain_text("₹10,00,000.00")
    expect(page.locator('[data-stat="final_equity"]')).to_contain_text("₹")
    assert "Equity ₹" in _legend(page, "backtest-equity")
    assert "$" not in page.locator("main").inner_text()
    artifacts.shot(page, "NSE backtest in rupees")

    # GOOG's backtest form: no Indian charges by default, a flat commission, and the estimate.
    page.goto(f"/app/strategies/{runs['goog']}/backtest/")
    expect(page.get_by_label("Apply the Indian equity schedule")).not_to_be_checked()
    expect(page.get_by_label("Flat commission (%)")).to_have_value("0.01")
    estimate = page.locator("#charges-estimate")
    expect(estimate).to_contain_text("Estimated charges per round trip: $2.00")
    page.get_by_label("Starting capital ($)").fill("50000")
    expect(page.locator("#charges-estimate")).to_contain_text(
        "Estimated charges per round trip: $10.00"  # 0.01 % of $50,000, in and out
    )
    artifacts.shot(page, "GOOG backtest form with the estimate")

    # The strategy form: a 1-minute timeframe defaults the product to MIS...
    page.goto("/app/strategies/new/")
    product = page.get_by_label("Product")
    expect(product).to_have_value("CNC")
    page.get_by_label("Timeframe").select_option("1m")
    expect(product).to_have_value("MIS")
    page.get_by_label("Timeframe").select_option("1d")
    expect(product).to_have_value("CNC")
    # ...until the user picks a product: then their choice stays.
    page.get_by_label("Timeframe").select_option("1m")
    product.select_option("CNC")
    page.get_by_label("Timeframe").select_option("5m")
    expect(product).to_have_value("CNC")
    artifacts.shot(page, "strategy form keeps the chosen product")
