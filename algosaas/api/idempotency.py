"""``Idempotency-Key`` for POSTs that create things (orders, deployments, backtests).

Same key and same body: the first response again, nothing created twice. Same key, different
body: 422. Same key while the first request is still running: 409. The key row is inserted and
committed before the work starts, so two racing requests cannot both pass.

An in-flight key holds a lease (``expires_at``, ``IDEMPOTENCY_LEASE_SECONDS``). A request that
died (its worker was killed) never finishes the row, so once the lease is over the next request
with the key takes it over — one winner, by compare-and-set on ``expires_at`` — and first asks
the endpoint's ``recover`` whether the dead request's object exists (orders carry a client order
id derived from the key, backtests the key's token: ``idempotency_token``); only if not does it
run the handler. The lease
is also a fencing token: a request that was presumed dead cannot finish a row taken over since.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from algosaas.errors import Conflict, DomainError
from algosaas.models import IdempotencyKey, idempotency_lease_end

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    description="Send the same key to retry safely: the first response is replayed.",
)


class IdempotencyKeyReused(DomainError):
    """Raised when a key comes back with a different request body (HTTP 422)."""

    status_code = 422
    code = "idempotency_key_reused"


class IdempotencyKeyInFlight(Conflict):
    """Raised when a key's first request has not finished yet (HTTP 409)."""

    code = "idempotency_key_in_flight"


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def idempotency_token(request: Request) -> str | None:
    """A stable token of the request's key (the same after a takeover), to link what it creates.

    None outside ``idempotent`` or without a key. An endpoint that can find its object by it
    (an order's client order id) passes ``recover`` so a retry after a crash answers with it.
    """
    record = getattr(request, "_idempotency_record", None)
    return None if record is None else f"k{record.pk}"


def _takeover(existing: IdempotencyKey) -> IdempotencyKey | None:
    """Take an in-flight key whose lease is over; None if it is live or another request won."""
    now = timezone.now()
    if existing.expires_at > now:
        return None
    lease = idempotency_lease_end()
    won = IdempotencyKey.objects.filter(
        pk=existing.pk, state=IdempotencyKey.State.IN_FLIGHT, expires_at=existing.expires_at
    ).update(expires_at=lease)
    if not won:
        return None
    existing.expires_at = lease
    return existing


def _finish(record: IdempotencyKey, response: Response, *, replayed: bool = False) -> Response:
    """Store the response as the key's answer, if this request still holds the key's lease."""
    body = json.loads(json.dumps(response.data, default=str))
    IdempotencyKey.objects.filter(pk=record.pk, expires_at=record.expires_at).update(
        state=IdempotencyKey.State.DONE, response_status=response.status_code, response_body=body
    )
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _release(record: IdempotencyKey) -> None:
    """Free the key (nothing was created), unless another request has taken it over since."""
    IdempotencyKey.objects.filter(pk=record.pk, expires_at=record.expires_at).delete()


def idempotent(
    request: Request,
    handler: Callable[[], Response],
    *,
    recover: Callable[[], Response | None] | None = None,
) -> Response:
    """Run ``handler`` at most once per (user, Idempotency-Key); replay its response after.

    ``recover`` answers for a key taken over from a dead request: the response for what that
    request created (found by ``idempotency_token``), or None if it created nothing.
    """
    key = request.headers.get(HEADER)
    if not key:
        return handler()
    if len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            f"{HEADER} is longer than {MAX_KEY_LENGTH} characters.",
            fields={HEADER: ["Too long."]},
        )
    if "\x00" in key:  # PostgreSQL text cannot hold it: a 500 before this check
        raise DomainError(
            f"{HEADER} cannot contain a NUL character.",
            fields={HEADER: ["Contains a NUL character."]},
        )
    fingerprint = _fingerprint(request)
    record = None
    taken_over = False
    for _attempt in range(2):  # the first request may fail and free its key meanwhile
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user=request.user,
                    key=key,
                    scope=f"{request.method} {request.path}"[:255],
                    request_hash=fingerprint,
                )
            break
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(user=request.user, key=key).first()
            if existing is None:
                continue
            if existing.request_hash != fingerprint:
                raise IdempotencyKeyReused(
                    f"This {HEADER} was already used with a different request."
                ) from None
            if existing.state == IdempotencyKey.State.IN_FLIGHT:
                record = _takeover(existing)
                if record is None:
                    raise IdempotencyKeyInFlight(
                        f"A request with this {HEADER} is still being processed."
                    ) from None
                taken_over = True
                break
            replay = Response(existing.response_body, status=existing.response_status)
            replay["Idempotent-Replayed"] = "true"
            return replay
    if record is None:
        raise IdempotencyKeyInFlight(f"A request with this {HEADER} is still being processed.")
    request._idempotency_record = record
    if taken_over and recover is not None:
        found = recover()  # the dead request may have created its object before it died
        if found is not None:
            return _finish(record, found, replayed=True)
    try:
        response = handler()
    except Exception:
        _release(record)  # nothing was created: the client may retry with the same key
        raise
    if response.status_code >= 400:
        _release(record)
        return response
    return _finish(record, response)
