"""Every order says why it exists: a reversal's exit and entry, a square-off, a manual order."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import IntegrityError, transaction
from django.utils import timezone

from execution.engine.legs import OrderRole, order_role
from execution.models import Order
from execution.services.live import order_place
from execution.tests.live.conftest import live_of, step
from strategies import services

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def _step_until_reversal(deployment) -> str:
    """Step until one bar sends both an exit and an entry (long_short flips); its bar ts."""
    for k in range(300):
        step(deployment, k)
        by_bar: dict[str, set[str]] = {}
        for cid in Order.objects.filter(deployment=deployment).values_list(
            "client_order_id", flat=True
        ):
            _, ts, leg = cid.rsplit("-", 2)
            by_bar.setdefault(ts, set()).add(leg)
        flips = [ts for ts, legs in by_bar.items() if {"x", "e"} <= legs]
        if flips:
            return flips[0]
    raise AssertionError("the strategy never reversed")


def test_a_reversal_records_an_exit_and_an_entry(deployment):
    ts = _step_until_reversal(deployment)
    legs = Order.objects.filter(deployment=deployment, client_order_id__contains=f"-{ts}-")
    roles = {o.client_order_id.rsplit("-", 1)[1]: o for o in legs}
    exit_, entry = roles["x"], roles["e"]
    # the two legs of a flip trade the same side: only the role tells them apart
    assert exit_.side == entry.side
    assert (exit_.role, entry.role) == ("exit", "entry")
    assert (exit_.get_role_display(), entry.get_role_display()) == ("Exit", "Entry")
    assert set(Order.objects.filter(deployment=deployment).values_list("role", flat=True)) <= {
        "entry",
        "exit",
    }


def test_manual_and_square_off_orders_say_so(deployment, strategy):
    for k in range(200):
        step(deployment, k)
        if any(p["qty"] for p in live_of(deployment).engine_state["ledger"]["positions"]):
            break
    manual = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=5, price=Decimal("100")
    )
    assert (manual.source, manual.role) == ("manual", "manual")

    services.strategy_stop(strategy=strategy, actor=strategy.owner, square_off=True)

    square = Order.objects.get(deployment=deployment, client_order_id__endswith="-sq")
    assert square.role == "square_off"
    assert square.get_role_display() == "Square-off"
    manual.refresh_from_db()
    assert manual.role == "manual"  # cancelling it at the stop keeps its role


@pytest.mark.parametrize(
    ("cid", "manual", "role"),
    [
        ("d7-1700000000-x", False, OrderRole.EXIT),
        ("d7-1700000000-e", False, OrderRole.ENTRY),
        ("d7-1700000000-sq", False, OrderRole.SQUARE_OFF),
        ("d7-1700000000-mis", False, OrderRole.SQUARE_OFF),  # the intraday (MIS) square-off
        ("d7-1700000000-sl", False, OrderRole.STOP),
        ("d7-1700000000-tp", False, OrderRole.TARGET),
        ("m7-0123456789abcdef0123", True, OrderRole.MANUAL),
        ("m7-k12", True, OrderRole.MANUAL),
    ],
)
def test_order_role_from_the_leg(cid, manual, role):
    assert order_role(cid, manual=manual) == role


def test_an_order_without_a_known_role_is_refused(deployment):
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(
            deployment=deployment,
            instrument=deployment.strategy.instrument,
            client_order_id="d1-1-x",
            side="SELL",
            order_type="MARKET",
            product="MIS",
            validity="DAY",
            quantity=1,
            status="PENDING",
            created_at=NOW,
            updated_at=NOW,
        )


def test_the_migration_derives_roles_of_existing_orders(deployment):
    migration = importlib.import_module("execution.migrations.0012_order_role")
    made = {}
    for cid, source in [
        ("d1-100-x", "strategy"),
        ("d1-100-e", "strategy"),
        ("d1-200-sq", "strategy"),
        ("d1-300-mis", "strategy"),
        ("m1-abc", "manual"),
        ("m1-k5", "manual"),
    ]:
        made[cid] = Order.objects.create(
            deployment=deployment,
            instrument=deployment.strategy.instrument,
            client_order_id=cid,
            source=source,
            role="entry",  # what the column's one-off default gave every existing row
            side="SELL",
            order_type="MARKET",
            product="MIS",
            validity="DAY",
            quantity=1,
            status="COMPLETE",
            created_at=NOW,
            updated_at=NOW,
        )

    migration.derive_roles(apps, None)

    roles = dict(Order.objects.filter(deployment=deployment).values_list("client_order_id", "role"))
    assert roles == {
        "d1-100-x": "exit",
        "d1-100-e": "entry",
        "d1-200-sq": "square_off",
        "d1-300-mis": "square_off",
        "m1-abc": "manual",
        "m1-k5": "manual",
    }
