"""The fake Kite's postbacks: what Kite POSTs to an app's postback URL when an order changes.

Kite sends the order (as its order book row) plus ``user_id``, ``app_id``,
``unfilled_quantity`` and ``checksum = SHA-256(order_id + order_timestamp + api_secret)``, as a
raw JSON body, for an order's updates once it reaches the exchange (OPEN / TRIGGER PENDING,
partial fills, modifications) and its end (COMPLETE, CANCELLED, REJECTED). Updates queue in
``outbox``; ``deliver`` posts them to ``url`` (through ``send``, by default ``requests`` on
loopback) and ``immediate`` posts each one as it happens, before the API call that caused it
has answered, as the real Kite may.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

# Statuses before the exchange has the order: Kite posts nothing for them.
_SILENT = {
    "PUT ORDER REQ RECEIVED",
    "VALIDATION PENDING",
    "OPEN PENDING",
    "MODIFY VALIDATION PENDING",
}


def sign(order: dict[str, Any], api_secret: str) -> str:
    text = f"{order['order_id']}{order['order_timestamp']}{api_secret}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class KitePostbacks:
    api_secret: str
    user_id: str = "AB1234"
    app_id: int = 1234
    url: str = ""
    immediate: bool = False
    send: Callable[[str, bytes], int] | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)
    sent: list[tuple[dict[str, Any], int]] = field(default_factory=list)

    def order_changed(self, order: dict[str, Any]) -> None:
        """The book's hook: queue (or post) the order as it is now, if Kite would."""
        if not self.url or order["status"] in _SILENT:
            return
        body = copy.deepcopy(order)
        body.update(
            user_id=self.user_id,
            app_id=self.app_id,
            unfilled_quantity=order["pending_quantity"],
            checksum=sign(order, self.api_secret),
        )
        self.outbox.append(body)
        if self.immediate:
            self.deliver()

    def deliver(self) -> list[int]:
        """Post every queued update, oldest first; return the HTTP statuses."""
        codes = []
        while self.outbox:
            body = self.outbox.pop(0)
            codes.append(self.post(body))
        return codes

    def post(self, body: dict[str, Any]) -> int:
        raw = json.dumps(body, default=str).encode()
        if self.send is not None:
            code = self.send(self.url, raw)
        else:
            answer = requests.post(
                self.url, data=raw, headers={"Content-Type": "application/json"}, timeout=10
            )
            code = answer.status_code
        self.sent.append((body, code))
        return code
