"""``Idempotency-Key`` for POSTs that create things (orders, deployments, backtests).

Same key and same body: the first response again, nothing created twice. Same key, different
body: 422. Same key while the first request is still running: 409. The key row is inserted and
committed before the work starts, so two racing requests cannot both pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from algosaas.errors import Conflict, DomainError
from algosaas.models import IdempotencyKey

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


def idempotent(request: Request, handler: Callable[[], Response]) -> Response:
    """Run ``handler`` at most once per (user, Idempotency-Key); replay its response after."""
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
                raise IdempotencyKeyInFlight(
                    f"A request with this {HEADER} is still being processed."
                ) from None
            replay = Response(existing.response_body, status=existing.response_status)
            replay["Idempotent-Replayed"] = "true"
            return replay
    if record is None:
        raise IdempotencyKeyInFlight(f"A request with this {HEADER} is still being processed.")
    try:
        response = handler()
    except Exception:
        record.delete()  # nothing was created: the client may retry with the same key
        raise
    if response.status_code >= 400:
        record.delete()
        return response
    record.state = IdempotencyKey.State.DONE
    record.response_status = response.status_code
    record.response_body = json.loads(json.dumps(response.data, default=str))
    record.save(update_fields=["state", "response_status", "response_body"])
    return response
