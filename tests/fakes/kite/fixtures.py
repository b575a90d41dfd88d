"""pytest fixtures for the fake Kite: the app pointed at it, and a linked (logged-in) account.

Import them into a test module or a ``conftest.py``::

    from tests.fakes.kite.fixtures import fake_kite, linked_kite_account  # noqa: F401
"""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from tests.fakes.kite.server import FakeKite, shared_server


@pytest.fixture
def fake_kite(settings) -> FakeKite:
    """A fresh fake Kite (books, tokens, faults) with KITE_API_ROOT/KITE_LOGIN_URL at it.

    It lists RELIANCE and INFY on NSE (tick 0.05, lot 1) and counts every request it serves
    in ``requests``.
    """
    server = shared_server()
    kite = server.reset()
    kite.add_instrument("INFY", tick=0.05, lot=1, last_price=1500.0)
    kite.add_instrument("RELIANCE", tick=0.05, lot=1, last_price=1300.0)
    settings.KITE_API_ROOT = server.url
    settings.KITE_LOGIN_URL = server.login_url
    settings.KITE_TIMEOUT_SECONDS = 5.0
    settings.BROKER_RATE_LIMIT_REDIS_URL = ""
    return kite


@pytest.fixture
def linked_kite_account(user, fake_kite) -> Any:
    """``user``'s Kite account on the fake, logged in today (as the login flow leaves it)."""
    from brokers.services import broker_account_create, broker_account_link

    account = broker_account_create(
        user=user, vendor="kite", api_key=fake_kite.api_key, api_secret=fake_kite.api_secret
    )
    return broker_account_link(
        account=account,
        access_token=fake_kite.issue_access_token(),
        broker_user_id="AB1234",
        login_at=timezone.now(),
    )
