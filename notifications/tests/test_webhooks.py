"""Signed webhooks end to end: a receiver on loopback, signatures, retries, the delivery log."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from django_q.models import Schedule

from execution.models import Trade
from notifications import services
from notifications.models import Delivery
from notifications.signing import verify
from notifications.tests.conftest import run_retry_schedules, traded_deployment

pytestmark = pytest.mark.django_db


def documented_verify(secret: str, header: str, body: bytes) -> bool:
    """The verification snippet of docs/notifications.md, copied as a receiver would."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > 300:
        return False
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def test_a_receiver_gets_a_correctly_signed_fill(
    user, receiver, django_capture_on_commit_callbacks
):
    endpoint = services.webhook_create(user=user, url=receiver.url, kinds=["fill"])

    with django_capture_on_commit_callbacks(execute=True):
        deployment = traded_deployment(user)

    trades = {t.fill_id: t for t in Trade.objects.filter(deployment=deployment)}
    assert trades and len(receiver.received) == len(trades)
    for got in receiver.received:
        header = got.headers["X-Algosaas-Signature"]
        assert documented_verify(endpoint.secret, header, got.body)
        assert verify(endpoint.secret, header, got.body)
        assert not documented_verify(endpoint.secret, header, got.body.replace(b"}", b" }", 1))
        assert not documented_verify("whsec_wrong", header, got.body)
        event = got.event
        assert event["type"] == "fill" and got.headers["X-Algosaas-Event"] == "fill"
        trade = trades[event["data"]["fill_id"]]
        assert event["data"]["deployment_id"] == deployment.pk
        assert event["data"]["quantity"] == trade.quantity
        assert event["data"]["side"] == trade.side
        assert event["data"]["order_id"] == trade.order_id
        assert Decimal(event["data"]["price"]) == trade.price
    logged = Delivery.objects.filter(endpoint=endpoint)
    assert set(logged.values_list("status", "status_code", "attempt")) == {("delivered", 200, 1)}
    assert logged.count() == len(trades)


def test_an_endpoint_gets_only_the_kinds_it_subscribed(
    user, receiver, django_capture_on_commit_callbacks
):
    services.webhook_create(user=user, url=receiver.url, kinds=["deployment.stopped"])
    with django_capture_on_commit_callbacks(execute=True):
        traded_deployment(user)
    assert receiver.received == []


def test_failed_attempts_are_retried_with_exponential_backoff(user, receiver, settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "BACKOFF_SECONDS": 10, "MAX_ATTEMPTS": 5}
    receiver.codes = [500, 503]
    endpoint = services.webhook_create(user=user, url=receiver.url)

    services.dispatch(user.pk, "fill", {"fill_id": "f-1"})
    schedules = run_retry_schedules()

    attempts = list(Delivery.objects.filter(endpoint=endpoint).order_by("attempt"))
    assert [(d.attempt, d.status, d.status_code) for d in attempts] == [
        (1, "failed", 500),
        (2, "failed", 503),
        (3, "delivered", 200),
    ]
    assert [d.error for d in attempts] == ["HTTP 500", "HTTP 503", ""]
    # each retry waits twice as long as the one before: 10 s, then 20 s
    waits = [d.scheduled_for - prev.finished_at for prev, d in pairwise(attempts)]
    assert [round(w.total_seconds()) for w in waits] == [10, 20]
    assert [s.next_run for s in schedules] == [d.scheduled_for for d in attempts[1:]]
    assert all(s.schedule_type == Schedule.ONCE for s in schedules)
    assert len(receiver.received) == 3
    assert len({r.event["id"] for r in receiver.received}) == 1  # the same event each time


def test_retries_stop_after_the_last_attempt(user, receiver, settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "BACKOFF_SECONDS": 1, "MAX_ATTEMPTS": 3}
    receiver.codes = [500] * 10
    endpoint = services.webhook_create(user=user, url=receiver.url)

    services.dispatch(user.pk, "fill", {"fill_id": "f-2"})
    run_retry_schedules()

    codes = list(Delivery.objects.filter(endpoint=endpoint).values_list("attempt", "status_code"))
    assert sorted(codes) == [(1, 500), (2, 500), (3, 500)]
    assert len(receiver.received) == 3


def test_an_unreachable_receiver_is_logged_and_retried(user, settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "BACKOFF_SECONDS": 1, "MAX_ATTEMPTS": 2}
    endpoint = services.webhook_create(user=user, url="http://127.0.0.1:9/closed")

    services.dispatch(user.pk, "fill", {"fill_id": "f-3"})
    run_retry_schedules()

    rows = list(Delivery.objects.filter(endpoint=endpoint).order_by("attempt"))
    assert [(d.attempt, d.status, d.status_code) for d in rows] == [
        (1, "failed", None),
        (2, "failed", None),
    ]
    assert all(d.error for d in rows)


def test_private_addresses_are_refused_where_the_setting_says_so(user, receiver, settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "ALLOW_PRIVATE_ADDRESSES": False}
    endpoint = services.webhook_create(user=user, url=receiver.url)

    services.dispatch(user.pk, "fill", {"fill_id": "f-4"})

    row = Delivery.objects.get(endpoint=endpoint)
    assert (row.status, row.attempt) == ("refused", 1) and "private or loopback" in row.error
    assert receiver.received == [] and not Schedule.objects.filter(name__startswith="webhook-")


def test_a_disabled_endpoint_gets_nothing(user, receiver):
    services.webhook_create(user=user, url=receiver.url, enabled=False)
    assert services.dispatch(user.pk, "fill", {"fill_id": "f-5"}) == []
    assert receiver.received == []


def test_send_test_delivers_now_and_reports_the_status(user, receiver):
    receiver.codes = [418]
    endpoint = services.webhook_create(user=user, url=receiver.url, kinds=["fill"])

    failed = services.webhook_send_test(endpoint=endpoint)
    delivered = services.webhook_send_test(endpoint=endpoint)

    assert (failed.status, failed.status_code) == ("failed", 418)
    assert (delivered.status, delivered.status_code) == ("delivered", 200)
    assert [r.event["type"] for r in receiver.received] == ["test", "test"]
    assert not Schedule.objects.filter(name__startswith="webhook-")  # a test is not retried
    assert delivered.finished_at - delivered.created_at < timedelta(seconds=5)
