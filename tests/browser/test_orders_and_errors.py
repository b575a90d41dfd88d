"""Orders that read right and forms that tell everything at once, as a user sees them.

A reversal sends two orders of the same side and size in the same second: each row must say
which is the exit and which the entry, the stop's closing order must read "Square-off" (it
once read "strategy"), and a loss of ₹21.95 on ₹10 lakh must not read "-0.00%". A form with a
blank name and fast >= slow shows both errors after one submit, as does a sign-up with a bad
address and a weak password.

The deployment is stepped with the services (no cluster): the synthetic feed is a pure
function of time, so ``deployment_step`` at a chosen ``now`` runs the real engine bar by bar.
"""

from __future__ import annotations

import re
from datetime import timedelta
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
    from playwright.sync_api import Locator, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

EMAIL = "roles@example.com"
CAPITAL = Decimal("1000000.00")  # ₹10 lakh
SMALL_LOSS = Decimal("21.95")


def _reversed_and_squared_off() -> dict[str, int | str]:
    """A long/short SMA run stepped until it reverses, then stopped with square-off."""
    from execution.models import EquitySnapshot, Order
    from execution.tests.live.conftest import deploy, live_of, make_strategy, step
    from strategies import services
    from tests.factories import UserFactory

    owner = UserFactory(email=EMAIL)
    strategy = make_strategy(owner, name="Flip flop", capital=CAPITAL)
    deployment = deploy(strategy)
    flip = None
    for k in range(300):
        step(deployment, k)
        legs: dict[str, set[str]] = {}
        for cid in Order.objects.filter(deployment=deployment).values_list(
            "client_order_id", flat=True
        ):
            _, ts, leg = cid.rsplit("-", 2)
            legs.setdefault(ts, set()).add(leg)
        flip = next((ts for ts, seen in legs.items() if {"x", "e"} <= seen), None)
        if flip and any(p["qty"] for p in live_of(deployment).engine_state["ledger"]["positions"]):
            break
    assert flip, "the strategy never reversed"
    services.strategy_stop(strategy=strategy, actor=owner, square_off=True)
    step(deployment, k + 1)  # the square-off fills at the next open
    square = Order.objects.get(deployment=deployment, client_order_id__endswith="-sq")
    # The curve's last point: ₹21.95 below the capital.
    last = EquitySnapshot.objects.filter(deployment=deployment).order_by("-ts").first()
    EquitySnapshot.objects.create(
        deployment=deployment,
        ts=last.ts + timedelta(seconds=5),
        cash=CAPITAL - SMALL_LOSS,
        position_value=Decimal("0"),
        equity=CAPITAL - SMALL_LOSS,
    )
    pair = Order.objects.filter(deployment=deployment, client_order_id__contains=f"-{flip}-")
    ids = {o.client_order_id.rsplit("-", 1)[1]: o.pk for o in pair}
    return {
        "deployment": deployment.pk,
        "exit": ids["x"],
        "entry": ids["e"],
        "square_off": square.pk,
    }


def _row(table: Locator, order_id: int) -> Locator:
    return table.locator("tbody tr").filter(has_text=re.compile(rf"#{order_id}\b"))


def test_a_reversal_and_a_square_off_read_by_their_roles(new_tab, artifacts: Artifacts):
    run = _reversed_and_squared_off()
    page = new_tab("trader").page
    logged_in(page, email=EMAIL, password=TEST_PASSWORD)

    page.goto(f"/app/deployments/{run['deployment']}/")
    history = page.locator("#orders")
    exit_row, entry_row = _row(history, run["exit"]), _row(history, run["entry"])
    # Same side, same size, same second: only the role tells them apart.
    side = exit_row.locator(".side").inner_text()
    expect(entry_row.locator(".side")).to_have_text(side)
    expect(exit_row.locator(".order-role")).to_have_text("Exit")
    expect(entry_row.locator(".order-role")).to_have_text("Entry")
    expect(_row(history, run["square_off"]).locator(".order-role")).to_have_text("Square-off")
    expect(history.locator("tbody tr").filter(has_text=re.compile(r"\bstrategy\b"))).to_have_count(
        0
    )
    # The equity legend shows the small loss with enough digits.
    legend = page.locator(".chart-legend:has(+ [data-chart='live-equity'])")
    expect(legend).to_contain_text("-0.0022%")
    expect(legend).not_to_contain_text("0.00%")
    artifacts.shot(page, "deployment legs by role")

    page.goto("/app/orders/")
    results = page.locator("#order-results")
    expect(_row(results, run["exit"]).locator(".order-role")).to_have_text("Exit")
    expect(_row(results, run["entry"]).locator(".order-role")).to_have_text("Entry")
    expect(_row(results, run["square_off"]).locator(".order-role")).to_have_text("Square-off")
    page.get_by_label("Role").select_option("square_off")
    expect(results.locator("tbody tr")).to_have_count(1)
    expect(results.locator("tbody tr .order-role")).to_have_text("Square-off")
    artifacts.shot(page, "orders filtered to the square-off")


def _field(page: Page, label: str) -> Locator:
    return page.locator(".field").filter(has=page.get_by_label(label, exact=True))


def test_forms_show_single_field_and_cross_field_errors_together(new_tab, artifacts: Artifacts):
    from tests.factories import UserFactory

    UserFactory(email=EMAIL)
    page = new_tab("trader").page
    logged_in(page, email=EMAIL, password=TEST_PASSWORD)

    page.goto("/app/strategies/new/")
    page.get_by_label("Name", exact=True).fill("")
    page.get_by_label("Fast period").fill("30")
    page.get_by_label("Slow period").fill("20")
    page.get_by_role("button", name="Create strategy").click()
    name, fast = _field(page, "Name"), _field(page, "Fast period")
    expect(name).to_have_class(re.compile(r"\bhas-error\b"))
    expect(name.locator(".error")).to_contain_text("This field is required.")
    expect(fast).to_have_class(re.compile(r"\bhas-error\b"))
    expect(fast.locator(".error")).to_contain_text(
        "Fast period (30) must be shorter than slow period (20)."
    )
    artifacts.shot(page, "strategy form both errors")

    anon = new_tab("visitor").page
    anon.goto("/signup/")
    anon.get_by_label("Email").fill("not-an-address")
    anon.get_by_label("Password").fill("short1")
    anon.get_by_role("button", name="Sign up").click()
    expect(anon.get_by_text("Enter a valid email address.")).to_be_visible()
    expect(anon.get_by_text(re.compile("This password is too short"))).to_be_visible()
    artifacts.shot(anon, "signup both errors")
