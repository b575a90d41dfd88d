"""One rate-limit policy for the API and the dashboard: DRF's scoped throttles, rates and cache.

The API views name a scope (``throttle_scope = "login"``) and DRF applies ``ScopedRateThrottle``;
the dashboard's forms call ``throttle_wait`` with the same scope, which runs that same class. So
the rates in ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` hold for both surfaces, and a client
spends one budget per address however it comes in.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

from django.http import HttpRequest
from rest_framework.throttling import ScopedRateThrottle

THROTTLED_MESSAGE = "Too many attempts from your address. Try again in {seconds} seconds."


def throttle_wait(request: HttpRequest, *, scope: str) -> int | None:
    """Count ``request`` against ``scope``; return the seconds to wait if it is over the rate.

    Keyed like the API: the user's id when logged in, else the client address (trusting
    ``NUM_PROXIES`` proxies only), so a forged ``X-Forwarded-For`` buys no fresh budget.
    """
    throttle = ScopedRateThrottle()
    if throttle.allow_request(request, SimpleNamespace(throttle_scope=scope)):
        return None
    return max(1, math.ceil(throttle.wait() or 1))


def throttled_message(seconds: int) -> str:
    return THROTTLED_MESSAGE.format(seconds=seconds)
