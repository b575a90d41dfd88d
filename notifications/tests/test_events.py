"""Which service emits which event, by email (locmem backend) and webhook, and only after commit."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from execution.engine.session import calendar_for
from execution.forms import IST
from execution.models import EquitySnapshot, Trade
from execution.services.live import order_place
from execution.services.marketdata import instrument_get_or_create
from execution.tests.live.conftest import deploy, make_strategy, step
from notifications import services
from notifications.models import Delivery
from notifications.summary import build_summary, send_daily_summaries
from notifications.tests.conftest import traded_deployment
from strategies import services as strategy_services

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _lot_five_deployment(user):
    lot5, _ = instrument_get_or_create(
        exchange="NSE", symbol="LOTFIVE", tick_size=Decimal("0.05"), lot_size=5
    )
    deployment = deploy(
        make_strategy(user, instrument=lot5, risk_limits={"max_order_quantity": 20})
    )
    step(deployment, 0)
    return deployment


def test_a_rejected_order_is_emailed(user, django_capture_on_commit_callbacks):
    services.email_kinds_set(user=user, kinds=["order.rejected"])
    deployment = _lot_five_deployment(user)

    with django_capture_on_commit_callbacks(execute=True):
        order = order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=7)

    assert order.status == "REJECTED"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    assert message.subject == "[algosaas] Order rejected: BUY 7 LOTFIVE"
    assert "lot size 5" in message.body and f"order_id: {order.pk}" in message.body
    row = Delivery.objects.get(channel="email")
    assert (row.event, row.status, row.endpoint) == ("order.rejected", "delivered", None)


def test_nothing_is_sent_when_the_transaction_rolls_back(
    user, receiver, django_capture_on_commit_callbacks
):
    services.email_kinds_set(user=user, kinds=["order.rejected"])
    services.webhook_create(user=user, url=receiver.url)
    deployment = _lot_five_deployment(user)

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=7)
        raise RuntimeError("rolled back after the order was written")

    assert mail.outbox == [] and receiver.received == []
    assert not Delivery.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):  # the same order, committed
        order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=7)
    assert len(mail.outbox) == 1 and len(receiver.received) == 1


def test_a_risk_denial_is_a_risk_limit_event(user, receiver, django_capture_on_commit_callbacks):
    endpoint = services.webhook_create(user=user, url=receiver.url, kinds=["risk.limit"])
    deployment = _lot_five_deployment(user)

    with django_capture_on_commit_callbacks(execute=True):
        denied = order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=50)

    assert denied.status == "DENIED"
    (got,) = receiver.received
    assert got.event["type"] == "risk.limit"
    assert got.event["data"]["rule"] == "max_order_quantity"
    assert got.event["data"]["order_id"] == denied.pk and got.event["data"]["quantity"] == 50
    assert Delivery.objects.get(endpoint=endpoint).status_code == 200


def test_stop_and_failure_are_sent(user, receiver, django_capture_on_commit_callbacks):
    services.webhook_create(
        user=user, url=receiver.url, kinds=["deployment.stopped", "deployment.failed"]
    )
    first = deploy(make_strategy(user, name="stopped one"))
    second = deploy(make_strategy(user, name="failing one"))

    with django_capture_on_commit_callbacks(execute=True):
        strategy_services.strategy_stop(strategy=first.strategy, actor=user, square_off=True)
        strategy_services.strategy_fail(strategy_id=second.strategy_id, reason="feed went away")

    stopped, failed = (r.event for r in receiver.received)
    assert (stopped["type"], stopped["data"]["deployment_id"]) == ("deployment.stopped", first.pk)
    assert stopped["data"]["status"] == "STOPPED" and stopped["data"]["square_off"] is True
    assert (failed["type"], failed["data"]["deployment_id"]) == ("deployment.failed", second.pk)
    assert failed["data"]["reason"] == "feed went away"


def test_the_daily_summary_reports_each_running_deployment(user, other_user):
    services.email_kinds_set(user=user, kinds=["daily.summary"])
    services.email_kinds_set(user=other_user, kinds=["daily.summary"])  # runs nothing: no mail
    deployment = traded_deployment(user)
    last = EquitySnapshot.objects.filter(deployment=deployment).order_by("-ts").first()
    now = last.ts
    midnight = datetime.combine(now.astimezone(IST).date(), time.min, tzinfo=IST)
    before = EquitySnapshot.objects.filter(deployment=deployment, ts__lt=midnight).last()
    day_open = before.equity if before else deployment.capital

    summary = build_summary(user.pk, now)

    (row,) = summary["deployments"]
    assert row["deployment_id"] == deployment.pk and row["strategy"] == "Notified runner"
    assert Decimal(row["equity"]) == last.equity
    assert Decimal(row["today_pnl"]) == last.equity - day_open
    assert Decimal(row["total_pnl"]) == last.equity - deployment.capital
    fills = Trade.objects.filter(deployment=deployment, executed_at__gte=midnight).count()
    assert row["fills_today"] == fills > 0
    assert build_summary(other_user.pk, now) is None


def test_the_daily_summary_is_sent_on_trading_days_only(user):
    services.email_kinds_set(user=user, kinds=["daily.summary"])
    traded_deployment(user)
    calendar = calendar_for("NSE")
    saturday = datetime(2026, 12, 5, 15, 35, tzinfo=IST)
    monday = datetime(2026, 12, 7, 15, 35, tzinfo=IST)
    assert not calendar.is_trading_day(saturday.date()) and calendar.is_trading_day(monday.date())

    assert send_daily_summaries(saturday) == 0 and mail.outbox == []
    assert send_daily_summaries(monday) == 1

    (message,) = mail.outbox
    assert message.subject == "[algosaas] Daily P&L summary for 2026-12-07"
    assert "Notified runner" in message.body and "equity" in message.body


def test_the_hook_costs_the_orders_transaction_no_query(
    user, receiver, django_capture_on_commit_callbacks
):
    services.webhook_create(user=user, url=receiver.url)
    deployment = _lot_five_deployment(user)

    with django_capture_on_commit_callbacks() as callbacks, CaptureQueriesContext(connection) as q:
        order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=7)

    assert not [x["sql"] for x in q.captured_queries if "notifications_" in x["sql"]]
    assert receiver.received == []  # nothing before the commit...
    for callback in callbacks:
        callback()
    assert [r.event["type"] for r in receiver.received] == ["order.rejected"]  # ...then sent
