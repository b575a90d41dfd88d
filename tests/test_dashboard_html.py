"""The dashboard's HTML as a browser receives it: unique ids on every page, accessible toasts.

Every page (and every htmx partial that swaps into one) is rendered with real data: a strategy
deployed on the synthetic feed with a filled order and a resting one, and a finished backtest.
An id that repeats breaks ``getElementById``, htmx's out-of-band swaps (only the first element
is replaced) and labels; the deployment page once carried ``deployment-status`` twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from execution.models import Backtest, BacktestStatus, Order
from execution.services.live import deployment_step, order_place
from strategies import services
from strategies.models import Deployment, Strategy
from strategies.tests.factories import StrategyFactory, seeded_instrument

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


class _Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.tags


def repeated_ids(html: str) -> dict[str, int]:
    ids = Counter(attrs["id"] for _, attrs in elements(html) if attrs.get("id"))
    return {i: n for i, n in ids.items() if n > 1}


@dataclass
class Estate:
    strategy: Strategy
    deployment: Deployment
    resting: Order
    backtest: Backtest


@pytest.fixture
def estate(user, django_capture_on_commit_callbacks) -> Estate:
    strategy = StrategyFactory(
        owner=user,
        name="RELIANCE quiet",
        strategy_type="rsi_reversion",
        params={"period": 100, "oversold": 1.0, "overbought": 99.0, "mode": "long_only"},
        instrument=seeded_instrument("RELIANCE"),
        timeframe="5s",
        quantity=10,
        allocation_pct=None,
        product="MIS",
        capital=Decimal("100000.00"),
    )
    StrategyFactory(owner=user, name="Never run")  # an INACTIVE row next to the running one
    deployment = services.strategy_deploy(strategy=strategy, actor=user)

    def step(seconds: int) -> None:
        deployment_step(
            deployment_id=deployment.pk, now=timezone.now() + timedelta(seconds=seconds)
        )

    step(10)
    order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=10)
    step(40)
    resting = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=10, price=Decimal("1.00")
    )
    client = _client_for(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("backtest_new", args=[strategy.pk]),
            {"capital": "", "apply_charges": "on", "slippage_bps": "0", "close_at_end": "close"},
        )
    backtest = Backtest.objects.get(strategy=strategy)
    assert backtest.status == BacktestStatus.COMPLETE, backtest.error
    deployment.refresh_from_db()
    return Estate(strategy, deployment, resting, backtest)


def _client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def dashboard_pages(e: Estate) -> list[str]:
    s, d, b = e.strategy.pk, e.deployment.pk, e.backtest.pk
    return [
        reverse("overview"),
        reverse("strategies:list"),
        reverse("strategies:create"),
        reverse("strategies:detail", args=[s]),
        reverse("strategies:edit", args=[s]),
        reverse("backtest_new", args=[s]),
        reverse("backtest_list"),
        reverse("backtest_detail", args=[b]),
        reverse("deployment_list"),
        reverse("deployment_detail", args=[d]),
        reverse("order_list"),
        reverse("password_change"),
        reverse("password_change_done"),
        "/app/no-such-page/",  # the 404 page
    ]


def test_no_dashboard_page_repeats_an_id(user, estate):
    client = _client_for(user)
    for url in dashboard_pages(estate):
        response = client.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
        html = response.content.decode()
        assert "<html" in html, url  # a whole page, not a fragment
        assert repeated_ids(html) == {}, url


def test_no_public_page_repeats_an_id(client):
    for url in ("/", reverse("signup"), reverse("login"), "/no-such-page/"):
        html = client.get(url).content.decode()
        assert repeated_ids(html) == {}, url


def test_the_deployment_page_shows_its_status_twice_under_two_ids(user, estate):
    client = _client_for(user)
    html = client.get(reverse("deployment_detail", args=[estate.deployment.pk])).content.decode()
    ids = [attrs.get("id") for _, attrs in elements(html)]
    assert ids.count("deployment-status") == 1  # in the heading
    assert ids.count("run-status") == 1  # in the Run card
    # The live poll refreshes both out of band, each under its own id.
    live = client.get(reverse("deployment_live", args=[estate.deployment.pk]), **HTMX)
    oob = {attrs["id"] for _, attrs in elements(live.content.decode()) if "hx-swap-oob" in attrs}
    assert {"deployment-status", "run-status"} <= oob
    assert repeated_ids(live.content.decode()) == {}


def test_htmx_partials_repeat_no_id(user, estate):
    client = _client_for(user)
    d, b, s = estate.deployment.pk, estate.backtest.pk, estate.strategy.pk
    partials = [
        (reverse("deployment_live", args=[d]), {}),
        (reverse("backtest_progress", args=[b]), {}),
        (reverse("strategies:params"), {"strategy_type": "sma_crossover", "strategy": s}),
        (reverse("strategies:list"), {"HTTP_HX_TARGET": "strategy-results"}),
        (reverse("backtest_list"), {"HTTP_HX_TARGET": "backtest-results"}),
        (reverse("deployment_list"), {"HTTP_HX_TARGET": "deployment-results"}),
        (reverse("order_list"), {"HTTP_HX_TARGET": "order-results"}),
    ]
    for url, extra in partials:
        data = {k: v for k, v in extra.items() if not k.startswith("HTTP_")}
        headers = {k: v for k, v in extra.items() if k.startswith("HTTP_")}
        response = client.get(url, data, **HTMX, **headers)
        assert response.status_code == 200, url
        assert repeated_ids(response.content.decode()) == {}, url


def test_toasts_are_a_polite_live_region_of_status_messages(client):
    """A message arrives as a toast: announced politely, with a labelled close button."""
    from accounts.tests.conftest import mailed_link

    client.post(
        reverse("signup"), {"email": "toast@example.com", "password": "violet-kettle-orbit-913"}
    )
    response = client.post(mailed_link("toast@example.com"), follow=True)  # confirm: welcome
    tags = elements(response.content.decode())
    box = [attrs for _, attrs in tags if attrs.get("id") == "toasts"]
    assert box and box[0]["aria-live"] == "polite"
    toasts = [attrs for _, attrs in tags if "toast" in (attrs.get("class") or "").split()]
    assert [t["role"] for t in toasts] == ["status"]
    closes = [attrs for _, attrs in tags if attrs.get("class") == "toast-close"]
    assert [c["aria-label"] for c in closes] == ["Dismiss"]
