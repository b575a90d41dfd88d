"""The Content-Security-Policy in a real browser: the pages the journey does not walk.

``test_journey.py`` asserts no violation over the whole dashboard journey (charts, htmx polling,
the order ticket). Here: the public pages, the sign-up confirmation, Swagger UI at /api/docs/
(its start-up script is a file, not inline) and the admin, each working under the policy. The
control first shows the collector does see a violation when one happens.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import logged_in
from tests.factories import TEST_PASSWORD, UserFactory

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


def test_the_collector_sees_a_violation(new_tab):
    tab = new_tab("control")
    tab.page.goto("/login/")

    tab.page.evaluate(
        """() => {
            const s = document.createElement("script");
            s.textContent = "window.ranInline = true";
            document.body.appendChild(s);
        }"""
    )

    expect(tab.page.get_by_role("heading", name="Log in")).to_be_visible()
    tab.page.wait_for_function("() => true")
    assert tab.page.evaluate("() => window.ranInline") is None  # blocked
    assert any(v.startswith("script-src") for v in tab.csp), tab.csp


def test_public_pages_swagger_and_admin_run_under_the_policy(new_tab):
    tab = new_tab("visitor")
    page = tab.page
    for path, heading in [
        ("/", None),
        ("/login/", "Log in"),
        ("/signup/", "Create your account"),
        ("/signup/sent/", "Check your inbox"),
        ("/signup/confirm/x/y/", "This link does not work"),
        ("/no-such-page/", None),
    ]:
        page.goto(path)
        if heading:
            expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()

    operator = UserFactory(is_staff=True, is_superuser=True)
    logged_in_admin = new_tab("operator")
    admin = logged_in_admin.page
    admin.goto("/admin/login/")
    admin.get_by_label("Email").fill(operator.email)
    admin.get_by_label("Password").fill(TEST_PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    expect(admin.get_by_role("link", name="Users")).to_be_visible()
    admin.goto(f"/admin/accounts/user/{operator.pk}/change/")
    expect(admin.get_by_label("Email")).to_have_value(operator.email)

    user = UserFactory()
    logged_in(page, email=user.email, password=TEST_PASSWORD)
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()  # the UI rendered

    assert not tab.csp, f"Content-Security-Policy violations: {tab.csp}"
    assert not logged_in_admin.csp, f"Content-Security-Policy violations: {logged_in_admin.csp}"
    assert not tab.errors + logged_in_admin.errors


def test_the_browsable_api_root_maps_the_api_and_loads_every_file(new_tab):
    """/api/ said "The default basic root view for DefaultRouter", left out /api/auth/… and the
    docs, and the browser's request for /favicon.ico was a 404 (its only console error)."""
    tab = new_tab("api-client")
    user = UserFactory()
    logged_in(tab.page, email=user.email, password=TEST_PASSWORD)
    tab.page.goto("/api/")
    expect(tab.page.get_by_text("Get a token pair")).to_be_visible()
    for link in ("/api/auth/token/", "/api/auth/register/", "/api/docs/", "/api/strategies/"):
        expect(tab.page.locator(f'a[href$="{link}"]').first).to_be_visible()
    tab.page.wait_for_load_state("networkidle")
    assert not [line for line in tab.console if line.startswith("[http 4")], tab.console
    assert not tab.csp, f"Content-Security-Policy violations: {tab.csp}"


def test_deploying_a_changed_configuration_asks_first(new_tab):
    """The confirm was an onsubmit attribute, which the policy blocks: it deployed unasked."""
    from execution.models import Backtest, BacktestStatus
    from strategies.models import StrategyStatus
    from strategies.services import strategy_config_snapshot
    from strategies.tests.factories import StrategyFactory

    user = UserFactory()
    strategy = StrategyFactory(owner=user, name="Changed since")
    bt = Backtest.objects.create(
        owner=user,
        strategy=strategy,
        config=strategy_config_snapshot(strategy),
        capital=strategy.capital,
        status=BacktestStatus.COMPLETE,
        progress=100,
        stats={},
    )
    strategy.params = {**strategy.params, "slow": strategy.params["slow"] + 5}
    strategy.save()

    tab = new_tab("trader")
    page = tab.page
    logged_in(page, email=user.email, password=TEST_PASSWORD)
    asked: list[str] = []

    def answer(dialog, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.goto(f"/app/backtests/{bt.pk}/")
    page.once("dialog", lambda d: answer(d, accept=False))
    page.get_by_role("button", name="Deploy this configuration").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Backtest #{bt.pk}")
    assert asked == ["The strategy changed after this backtest. Deploy its current configuration?"]
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.INACTIVE

    page.once("dialog", lambda d: answer(d, accept=True))
    page.get_by_role("button", name="Deploy this configuration").click()
    expect(page.locator("#head-badge")).to_have_text("Running")
    assert len(asked) == 2
    assert not tab.csp, f"Content-Security-Policy violations: {tab.csp}"
