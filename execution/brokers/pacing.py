"""Spacing of a broker's market-data requests (its documented requests per second).

The order limiter (``ratelimit.py``) is shared across processes because orders of one account
come from many workers; a history import is one command in one process, so a local gap between
its requests is enough.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """Wait before a request so that requests are at least ``1 / per_second`` apart."""

    def __init__(
        self,
        per_second: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.min_gap = 1.0 / per_second if per_second > 0 else 0.0  # 0: no pacing (tests)
        self.sleep = sleep
        self.clock = clock
        self._last: float | None = None

    def wait(self) -> None:
        """Sleep what is left of the gap since the previous request, then mark this one."""
        if self._last is not None and self.min_gap:
            left = self._last + self.min_gap - self.clock()
            if left > 0:
                self.sleep(left)
        self._last = self.clock()
