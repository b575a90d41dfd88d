"""The brokers' postback endpoints: no session, verified by Kite's checksum or Dhan's URL token.

Thin: size and shape checks, then ``brokers.postbacks``. Throttled per client address; a body
over ``MAX_BODY`` bytes is refused before it is read. Errors answer in the API's JSON shape,
never a 500, and a refused postback is logged without any secret.
"""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from algosaas.api.errors import error_body
from brokers import postbacks
from brokers.reports import BadReport

MAX_BODY = 16 * 1024  # a Kite or Dhan order update is about 1-2 KB


class PostbackThrottle(AnonRateThrottle):
    """Per client address: the brokers post from a few servers, at most a few per order."""

    scope = "broker_postback"
    rate = "600/min"


class _PostbackView(APIView):
    authentication_classes: list = []  # no session: no CSRF either; the body is verified
    permission_classes = [AllowAny]
    throttle_classes = [PostbackThrottle]
    parser_classes = [JSONParser, FormParser]

    def _body(self, request: Request) -> dict[str, Any] | Response:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = MAX_BODY + 1
        if length > MAX_BODY:
            return Response(
                error_body("payload_too_large", f"A postback is at most {MAX_BODY} bytes."),
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        data = request.data
        if hasattr(data, "dict"):  # a form post: Kite may send the order as form fields
            data = data.dict()
            if set(data) == {"payload"}:  # or as one JSON field
                try:
                    data = json.loads(data["payload"])
                except ValueError:
                    data = {}
        if not isinstance(data, dict):
            return _bad("body", "The body must be a JSON object.")
        return data

    def _receive(self, account: Any, body: dict[str, Any]) -> Response:
        try:
            row = postbacks.receive(account=account, body=body)
        except BadReport as exc:
            field = str(exc).split(" ", 1)[0]
            return _bad(field, str(exc))
        return Response({"outcome": row.outcome}, status=status.HTTP_200_OK)


def _bad(field: str, message: str) -> Response:
    return Response(
        error_body("invalid", message, {field: [message]}), status=status.HTTP_400_BAD_REQUEST
    )


def _refused(message: str) -> Response:
    return Response(error_body("forbidden", message), status=status.HTTP_403_FORBIDDEN)


@extend_schema(exclude=True)  # called by Kite's servers, not by API clients
class KitePostbackView(_PostbackView):
    """Kite's order updates (the app's postback URL), signed with the app's API secret."""

    def post(self, request: Request) -> Response:
        body = self._body(request)
        if isinstance(body, Response):
            return body
        try:
            account = postbacks.kite_account_for(body)
        except postbacks.PostbackRefused as exc:
            return _refused(str(exc))
        return self._receive(account, body)


@extend_schema(exclude=True)  # called by Dhan's servers, not by API clients
class DhanPostbackView(_PostbackView):
    """Dhan's order updates, to the per-account URL whose token proves the sender."""

    def post(self, request: Request, token: str) -> Response:
        body = self._body(request)
        if isinstance(body, Response):
            return body
        try:
            account = postbacks.dhan_account_for(token, body)
        except postbacks.PostbackRefused as exc:
            return _refused(str(exc))
        return self._receive(account, body)
