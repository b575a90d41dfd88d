"""A second user cannot open, or act on, the first user's pages (a 404, as if they did not exist).

The owner's strategy, backtest, running deployment and resting order are made with the services
(no browser, no cluster: the test settings run the backtest inline). The owner then opens each
page in one browser context (the positive control: every URL works); a stranger, logged in
through the form in another context, gets a 404 for every one of them, sees none of the owner's
rows in the lists, and every action posted with the stranger's own session and CSRF token is a
404 that changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import Artifacts, logged_in
from tests.factories import TEST_PASSWORD

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

SECRET = "Owner-only momentum"  # the owner's strategy name: it must never reach the stranger


@dataclass
class Owned:
    email: str
    strategy: int
    backtest: int
    deployment: int
    order: int

    def pages(self) -> list[str]:
        s, b, d = self.strategy, self.backtest, self.deployment
        return [
            f"/app/strategies/{s}/",
            f"/app/strategies/{s}/edit/",
            f"/app/strategies/{s}/backtest/",
            f"/app/strategies/params/?strategy_type=sma_crossover&strategy={s}",
            f"/app/backtests/{b}/",
            f"/app/backtests/{b}/progress/",
            f"/app/deployments/{d}/",
            f"/app/deployments/{d}/live/",
            f"/app/deployments/{d}/equity/",
        ]

    def actions(self) -> list[tuple[str, dict[str, str]]]:
        s, d, o = self.strategy, self.deployment, self.order
        return [
            (f"/app/orders/{o}/cancel/", {}),
            (f"/app/deployments/{d}/stop/", {"square_off": "on"}),
            (
                f"/app/deployments/{d}/orders/",
                {"side": "SELL", "order_type": "MARKET", "quantity": "10", "validity": "DAY"},
            ),
            (f"/app/strategies/{s}/stop/", {"square_off": "on"}),
            (f"/app/strategies/{s}/archive/", {}),
            (f"/app/strategies/{s}/delete/", {}),
            (f"/app/strategies/{s}/deploy/", {}),
            (f"/app/strategies/{s}/backtest/", {"capital": "100000"}),
            (
                f"/app/strategies/{s}/edit/",
                {"name": "taken over", "strategy_type": "sma_crossover", "timeframe": "5s"},
            ),
        ]


@pytest.fixture
def owned() -> Owned:
    from execution.models import Backtest, BacktestStatus, OrderStatusChoices
    from execution.services.backtests import backtest_request
    from execution.services.live import order_place
    from strategies import services
    from strategies.tests.factories import StrategyFactory, seeded_instrument
    from tests.factories import UserFactory

    owner = UserFactory(email="owner@example.com")
    strategy = StrategyFactory(
        owner=owner,
        name=SECRET,
        instrument=seeded_instrument("TCS"),
        timeframe="5s",
        product="MIS",
        params={"fast": 2, "slow": 5, "mode": "long_short"},
        quantity=10,
        allocation_pct=None,
    )
    backtest = backtest_request(strategy=strategy, user=owner)  # inline under the test settings
    assert Backtest.objects.get(pk=backtest.pk).status == BacktestStatus.COMPLETE
    deployment = services.strategy_deploy(strategy=strategy, actor=owner)
    order = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=10, price=Decimal("1.00")
    )
    assert order.status == OrderStatusChoices.OPEN, order.status_message
    return Owned(owner.email, strategy.pk, backtest.pk, deployment.pk, order.pk)


def _post(page: Page, url: str, data: dict[str, str]) -> int:
    """POST a form as this page's user would: its session cookie and its own CSRF token."""
    return page.evaluate(
        """async ([url, data]) => {
          const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken'];
          const body = new URLSearchParams(data);
          const r = await fetch(url, {method: 'POST', body, headers: {'X-CSRFToken': token},
                                      credentials: 'same-origin'});
          return r.status;
        }""",
        [url, data],
    )


def test_a_stranger_gets_404_for_every_page_and_action(owned: Owned, new_tab, artifacts: Artifacts):
    from execution.models import Backtest, Order, OrderStatusChoices
    from strategies.models import Deployment, DeploymentStatus, Strategy, StrategyStatus
    from tests.factories import UserFactory

    # The positive control: every URL is the owner's to open.
    owner = new_tab("owner").page
    logged_in(owner, email=owned.email, password=TEST_PASSWORD)
    for url in owned.pages():
        response = owner.goto(url)
        assert response is not None and response.status == 200, (url, response and response.status)
    owner.goto(f"/app/deployments/{owned.deployment}/")
    expect(owner.get_by_role("heading", level=1)).to_contain_text(SECRET)
    artifacts.shot(owner, "owner sees the deployment")

    stranger_user = UserFactory(email="stranger@example.com")
    stranger = new_tab("stranger").page
    logged_in(stranger, email=stranger_user.email, password=TEST_PASSWORD)

    # Every page of the owner's is a 404 that shows nothing of it.
    for url in owned.pages():
        response = stranger.goto(url)
        assert response is not None, url
        assert response.status == 404, (url, response.status)
        assert SECRET not in stranger.content(), url
    stranger.goto(f"/app/deployments/{owned.deployment}/")
    # The dashboard's own 404 page, in its layout, with the way back.
    expect(stranger.get_by_role("heading", name="Page not found", level=1)).to_be_visible()
    expect(stranger.get_by_role("navigation", name="Main")).to_be_visible()
    expect(stranger.get_by_role("link", name="Go to the overview")).to_be_visible()
    artifacts.shot(stranger, "stranger gets a 404")

    # The lists (and a filter naming the owner's strategy) show none of the owner's rows.
    for url in (
        "/app/",
        "/app/strategies/",
        "/app/backtests/",
        f"/app/backtests/?strategy={owned.strategy}",
        "/app/deployments/",
        "/app/orders/",
        f"/app/orders/?strategy={owned.strategy}",
    ):
        response = stranger.goto(url)
        assert response is not None and response.status == 200, url
        assert SECRET not in stranger.content(), url
    export = stranger.evaluate(
        "async () => (await fetch('/app/orders/export.csv', {credentials: 'same-origin'})).text()"
    )
    assert SECRET not in export and len(export.strip().splitlines()) == 1, export
    stranger.goto("/app/orders/")
    artifacts.shot(stranger, "stranger's empty orders")

    # Every action on the owner's objects, with the stranger's session and token, is a 404
    # (from the view: a bad token would have been a 403 before it ran).
    stranger.goto("/app/")
    for url, data in owned.actions():
        assert _post(stranger, url, data) == 404, url

    # ...and changed nothing.
    strategy = Strategy.objects.get(pk=owned.strategy)
    assert (strategy.name, strategy.status, strategy.archived_at) == (
        SECRET,
        StrategyStatus.RUNNING,
        None,
    )
    assert Deployment.objects.get(pk=owned.deployment).status == DeploymentStatus.RUNNING
    assert Deployment.objects.filter(strategy_id=owned.strategy).count() == 1
    assert Order.objects.get(pk=owned.order).status == OrderStatusChoices.OPEN
    assert Order.objects.filter(deployment_id=owned.deployment).count() == 1
    assert Backtest.objects.filter(strategy_id=owned.strategy).count() == 1
