"""The fake Dhan's postbacks: the order row POSTed (JSON) to the URL registered with the token.

Dhan sends one for each status change (``TRANSIT`` excepted here), modification and partial
fill, unsigned, with ``filled_qty`` for the filled quantity (dhanhq.co/docs/v2/postback).
Updates queue in ``outbox``; ``deliver`` posts them to ``url`` (through ``send``, by default
``requests`` on loopback); ``immediate`` posts each as it happens.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass
class DhanPostbacks:
    url: str = ""
    immediate: bool = False
    send: Callable[[str, bytes], int] | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)
    sent: list[tuple[dict[str, Any], int]] = field(default_factory=list)

    def order_changed(self, order: dict[str, Any]) -> None:
        if not self.url or order["orderStatus"] == "TRANSIT":
            return
        body = copy.deepcopy(order)
        body["filled_qty"] = body.pop("filledQty", 0)
        self.outbox.append(body)
        if self.immediate:
            self.deliver()

    def deliver(self) -> list[int]:
        codes = []
        while self.outbox:
            body = self.outbox.pop(0)
            raw = json.dumps(body, default=str).encode()
            if self.send is not None:
                code = self.send(self.url, raw)
            else:
                answer = requests.post(
                    self.url, data=raw, headers={"Content-Type": "application/json"}, timeout=10
                )
                code = answer.status_code
            self.sent.append((body, code))
            codes.append(code)
        return codes
