"""django-q2 tasks: one webhook attempt (retried with exponential backoff), one email, and the
daily P&L summary at the close.

Logs name deliveries and endpoints by id and status code only: never a secret, never a
signature, never a URL (a URL may carry a token in its query).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.core.mail import send_mail
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from notifications.models import Delivery, DeliveryStatus
from notifications.services import WEBHOOK_TASK, conf
from notifications.signing import SIGNATURE_HEADER, UrlRefused, check_url, signature

logger = structlog.get_logger(__name__)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is the receiver's answer, not a new URL to call (it could point inside)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (scheme checked)
    try:
        with _opener.open(request, timeout=conf("TIMEOUT_SECONDS")) as response:
            return response.status
    except urllib.error.HTTPError as exc:  # 3xx (not followed), 4xx, 5xx: an answer
        return exc.code


def body_of(payload: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def backoff(attempt: int) -> float:
    """Seconds before the attempt after ``attempt``: base, 2*base, 4*base, ..."""
    return conf("BACKOFF_SECONDS") * 2 ** (attempt - 1)


def webhook_attempt(delivery_id: int, *, retry: bool = True) -> str:
    """POST one delivery; on a non-2xx answer or a network error, schedule the next attempt."""
    row = Delivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if row is None or row.status != DeliveryStatus.PENDING:
        return "gone"
    endpoint = row.endpoint
    if endpoint is None or not endpoint.enabled:
        return _finish(row, DeliveryStatus.FAILED, error="endpoint disabled or deleted")
    try:
        check_url(endpoint.url, allow_private=conf("ALLOW_PRIVATE_ADDRESSES"))
    except UrlRefused as exc:
        return _finish(row, DeliveryStatus.REFUSED, error=str(exc))
    body = body_of(row.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "algosaas-webhooks/1",
        "X-Algosaas-Event": row.event,
        "X-Algosaas-Delivery": row.event_id,
        SIGNATURE_HEADER: signature(endpoint.secret, int(time.time()), body),
    }
    code: int | None = None
    error = ""
    try:
        code = _post(endpoint.url, body, headers)
    except (
        OSError,
        ValueError,
        http.client.HTTPException,
    ) as exc:  # refused, timeout, TLS, bad answer
        error = type(exc).__name__
    ok = code is not None and 200 <= code < 300
    if not ok and not error:
        error = f"HTTP {code}"
    outcome = _finish(row, DeliveryStatus.DELIVERED if ok else DeliveryStatus.FAILED, code, error)
    logger.info(
        "webhook_attempt",
        delivery_id=row.pk,
        endpoint_id=endpoint.pk,
        attempt=row.attempt,
        status_code=code,
        outcome=outcome,
    )
    if not ok and retry and row.attempt < conf("MAX_ATTEMPTS"):
        _schedule_retry(row)
    return outcome


def _finish(row: Delivery, status: str, code: int | None = None, error: str = "") -> str:
    row.status = status
    row.status_code = code
    row.error = error[:300]
    row.finished_at = timezone.now()
    row.save(update_fields=["status", "status_code", "error", "finished_at"])
    return status


def _schedule_retry(row: Delivery) -> Delivery:
    delay = backoff(row.attempt)
    when = timezone.now() + timedelta(seconds=delay)
    nxt = Delivery.objects.create(
        user_id=row.user_id,
        endpoint_id=row.endpoint_id,
        channel=row.channel,
        event_id=row.event_id,
        event=row.event,
        payload=row.payload,
        attempt=row.attempt + 1,
        scheduled_for=when,
    )
    if delay <= 0:
        async_task(WEBHOOK_TASK, nxt.pk)
    else:  # a one-off schedule: the cluster runs it at ``when``, whichever worker is free
        schedule(
            WEBHOOK_TASK,
            nxt.pk,
            name=f"webhook-retry-{nxt.pk}",
            schedule_type=Schedule.ONCE,
            repeats=1,
            next_run=when,
        )
    return nxt


def email_send(delivery_id: int) -> str:
    """Mail one event to the account's address (Django's mail backend; console by default)."""
    from notifications.emails import render_email

    row = Delivery.objects.select_related("user").filter(pk=delivery_id).first()
    if row is None or row.status != DeliveryStatus.PENDING:
        return "gone"
    subject, text = render_email(row.payload)
    try:
        send_mail(subject, text, None, [row.user.email])
    except OSError as exc:
        return _finish(row, DeliveryStatus.FAILED, error=type(exc).__name__)
    return _finish(row, DeliveryStatus.DELIVERED)


def daily_summary(now: datetime | None = None) -> int:
    """At the close of an NSE trading day, send each user with running deployments their P&L."""
    from notifications.summary import send_daily_summaries

    return send_daily_summaries(now or timezone.now())
